// Index arithmetic of the sub-pixel shuffle (depth_to_space), shared by the CPU
// kernel (csrc/core/pixel_shuffle.cpp) and the CUDA kernel
// (csrc/cuda/pixel_shuffle_cuda.cu), so the C++ tests that run on any machine
// also cover the GPU's math.
//
// Shapes: input  [N, C_in, H, W] with C_in = C_out * s * s,
//         output [N, C_out, H*s, W*s],
// stored either NCHW (in and out) or NHWC (in and out).
// Output pixel (oh, ow) = (h*s + i, w*s + j) of channel c reads input pixel (h, w)
// of channel
//   PyTorch order (F.pixel_shuffle):     c*s*s + i*s + j
//   TF order (tf.nn.depth_to_space):     (i*s + j)*C_out + c
//
// No headers beyond <cstdint>: this file must compile with g++ and nvcc alike.
#pragma once

#include <cstdint>

#ifndef FALSR_HOST_DEVICE
#if defined(__CUDACC__) || defined(__HIPCC__)
#define FALSR_HOST_DEVICE __host__ __device__
#else
#define FALSR_HOST_DEVICE
#endif
#endif

#ifndef FALSR_HD_INLINE
#if defined(__CUDACC__) || defined(__HIPCC__)
#define FALSR_HD_INLINE __host__ __device__ __forceinline__
#else
#define FALSR_HD_INLINE inline
#endif
#endif

namespace falsr::core {

// Which input channel feeds which sub-pixel position.
enum class ChannelOrder : int32_t {
  Torch = 0,  // c*s*s + i*s + j        (torch.nn.PixelShuffle)
  TF = 1,     // (i*s + j)*C_out + c    (tf.nn.depth_to_space, the official FALSR graphs)
};

// Memory layout of both input and output.
enum class Layout : int32_t {
  NCHW = 0,  // torch.contiguous_format
  NHWC = 1,  // torch.channels_last
};

// Plain geometry of one shuffle, trivially copyable (passed by value to CUDA kernels).
// Build it with make_pixel_shuffle_geometry() (pixel_shuffle.h), which validates.
struct PixelShuffleGeometry {
  int64_t n;      // batch
  int64_t c_in;   // input channels = c_out * s * s
  int64_t h;      // input height
  int64_t w;      // input width
  int64_t s;      // scale (block size)
  int64_t c_out;  // output channels
};

// Input channel of output channel `c` at sub-pixel position (i, j), 0 <= i, j < s.
template <typename I>
FALSR_HD_INLINE I ps_in_channel(I c, I i, I j, I s, I c_out, ChannelOrder order) {
  return order == ChannelOrder::TF ? (i * s + j) * c_out + c : (c * s + i) * s + j;
}

// Element offset of logical element (n, c, y, x) of a [N, C, Hd, Wd] tensor in `layout`.
template <typename I>
FALSR_HD_INLINE I ps_offset(I n, I c, I y, I x, I C, I Hd, I Wd, Layout layout) {
  return layout == Layout::NCHW ? ((n * C + c) * Hd + y) * Wd + x
                                : ((n * Hd + y) * Wd + x) * C + c;
}

// Element offset in the input of the value that lands at output (n, c, oh, ow).
template <typename I>
FALSR_HD_INLINE I ps_src_offset(I n, I c, I oh, I ow, I c_out, I h, I w, I s,
                                ChannelOrder order, Layout layout) {
  const I hh = oh / s;
  const I i = oh - hh * s;
  const I ww = ow / s;
  const I j = ow - ww * s;
  const I cin = ps_in_channel<I>(c, i, j, s, c_out, order);
  return ps_offset<I>(n, cin, hh, ww, c_out * s * s, h, w, layout);
}

// Logical output coordinates of the element stored at `offset` in the output tensor
// ([N, C_out, H*s, W*s] in `layout`).
template <typename I>
FALSR_HD_INLINE void ps_dst_coords(I offset, I c_out, I ho, I wo, Layout layout, I* n, I* c,
                                   I* oh, I* ow) {
  if (layout == Layout::NCHW) {
    *ow = offset % wo;
    offset /= wo;
    *oh = offset % ho;
    offset /= ho;
    *c = offset % c_out;
    *n = offset / c_out;
  } else {
    *c = offset % c_out;
    offset /= c_out;
    *ow = offset % wo;
    offset /= wo;
    *oh = offset % ho;
    *n = offset / ho;
  }
}

// Element offset in the input of the value stored at `dst_offset` of the output:
// the whole gather in one call (what each CUDA thread does).
template <typename I>
FALSR_HD_INLINE I ps_src_offset_of_dst(I dst_offset, I c_out, I h, I w, I s, ChannelOrder order,
                                       Layout layout) {
  I n, c, oh, ow;
  ps_dst_coords<I>(dst_offset, c_out, h * s, w * s, layout, &n, &c, &oh, &ow);
  return ps_src_offset<I>(n, c, oh, ow, c_out, h, w, s, order, layout);
}

}  // namespace falsr::core
