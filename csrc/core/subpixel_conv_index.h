// Index arithmetic and element conversions of the fused sub-pixel convolution
// (csrc/core/subpixel_conv.h), shared with a future CUDA kernel so that the C++
// tests that run on any machine also cover the GPU's math.
//
//   x, residual [N, C*s*s, H, W]   (LR, NCHW or NHWC)
//   hr          [N, C, H*s, W*s]   = depth_to_space(x + residual, s, order)  (never stored)
//   out         [N, Cout, H*s, W*s] = conv2d(hr, weight [Cout, C, k, k], bias, padding=k/2)
//
// HR pixel (c, y, x) reads LR pixel (y/s, x/s) of channel ps_in_channel(c, y%s, x%s, s, C, order)
// (pixel_shuffle_index.h). Only <cstdint> and <cstring>: compiles with g++ and nvcc alike.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/pixel_shuffle_index.h"

namespace falsr::core {

// Storage type of x, residual and out (weights and bias are always fp32 in the core).
enum class SubpixelDType : int32_t {
  Float32 = 0,
  BFloat16 = 1,  // uint16_t storage, the top half of an IEEE float32
};

// Plain geometry of one fused op, trivially copyable. Build it with
// make_subpixel_conv_geometry() (subpixel_conv.h), which validates.
struct SubpixelConvGeometry {
  int64_t n;      // batch
  int64_t c_in;   // LR channels = c_hr * s * s
  int64_t h;      // LR height
  int64_t w;      // LR width
  int64_t s;      // scale
  int64_t c_hr;   // HR feature channels (= weight in-channels)
  int64_t c_out;  // output channels
  int64_t k;      // conv kernel size (odd), padding k/2
};

// bf16 bits -> float (exact).
FALSR_HD_INLINE float spc_bf16_to_float(uint16_t v) {
  const uint32_t bits = static_cast<uint32_t>(v) << 16;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
#endif
}

// float -> bf16 bits, round to nearest even; NaN stays a (quiet) NaN.
FALSR_HD_INLINE uint16_t spc_float_to_bf16(float f) {
#if defined(__CUDA_ARCH__)
  uint32_t bits = __float_as_uint(f);
#else
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
#endif
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  }
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// Element offset, in the LR tensor, of the value that lands at HR (n, c, y, x)
// (before the residual add). 0 <= y < h*s, 0 <= x < w*s.
template <typename I>
FALSR_HD_INLINE I spc_lr_offset(I n, I c, I y, I x, const SubpixelConvGeometry& g,
                                ChannelOrder order, Layout layout) {
  return ps_src_offset<I>(n, c, y, x, static_cast<I>(g.c_hr), static_cast<I>(g.h),
                          static_cast<I>(g.w), static_cast<I>(g.s), order, layout);
}

// Element offset of output (n, co, y, x) ([N, Cout, H*s, W*s] in `layout`).
template <typename I>
FALSR_HD_INLINE I spc_out_offset(I n, I co, I y, I x, const SubpixelConvGeometry& g,
                                 Layout layout) {
  return ps_offset<I>(n, co, y, x, static_cast<I>(g.c_out), static_cast<I>(g.h * g.s),
                      static_cast<I>(g.w * g.s), layout);
}

// Offset of weight (co, c, ky, kx) in a [Cout, C, k, k] contiguous tensor.
template <typename I>
FALSR_HD_INLINE I spc_weight_offset(I co, I c, I ky, I kx, I c_hr, I k) {
  return ((co * c_hr + c) * k + ky) * k + kx;
}

}  // namespace falsr::core
