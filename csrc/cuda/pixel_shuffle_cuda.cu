// CUDA sub-pixel shuffle: one thread per output element (grid-stride loop), so
// consecutive threads write consecutive addresses (coalesced stores); the source
// offset comes from the same __host__ __device__ index functions the CPU tests
// check (core/pixel_shuffle_index.h). The element type only matters by its size.
// 32-bit index arithmetic is used whenever the tensor allows it (cheaper div/mod).
// Argument checks reuse csrc/core (link the core sources with this file).
#include "cuda/pixel_shuffle_cuda.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/element.h"
#include "core/pixel_shuffle.h"
#include "core/pixel_shuffle_index.h"
#include "core/shapes.h"

namespace falsr::cuda {
namespace {

using core::ChannelOrder;
using core::UInt;
using core::Layout;

constexpr int kThreads = 256;

template <typename T, typename I, Layout L, ChannelOrder O>
__global__ void __launch_bounds__(kThreads)
    pixel_shuffle_kernel(const T* __restrict__ in, T* __restrict__ out, I total, I c_out, I h,
                         I w, I s) {
  const I stride = static_cast<I>(blockDim.x) * static_cast<I>(gridDim.x);
  for (I idx = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) +
               static_cast<I>(threadIdx.x);
       idx < total; idx += stride) {
    out[idx] = in[core::ps_src_offset_of_dst<I>(idx, c_out, h, w, s, O, L)];
  }
}

template <typename T, typename I, Layout L, ChannelOrder O>
void launch(const void* in, void* out, const core::PixelShuffleGeometry& g, int64_t total,
            unsigned blocks, cudaStream_t stream) {
  pixel_shuffle_kernel<T, I, L, O><<<blocks, kThreads, 0, stream>>>(
      static_cast<const T*>(in), static_cast<T*>(out), static_cast<I>(total),
      static_cast<I>(g.c_out), static_cast<I>(g.h), static_cast<I>(g.w), static_cast<I>(g.s));
}

template <typename T, typename I>
void launch_typed(const void* in, void* out, const core::PixelShuffleGeometry& g, int64_t total,
                  unsigned blocks, ChannelOrder order, Layout layout, cudaStream_t stream) {
  if (layout == Layout::NCHW) {
    if (order == ChannelOrder::TF) {
      launch<T, I, Layout::NCHW, ChannelOrder::TF>(in, out, g, total, blocks, stream);
    } else {
      launch<T, I, Layout::NCHW, ChannelOrder::Torch>(in, out, g, total, blocks, stream);
    }
  } else {
    if (order == ChannelOrder::TF) {
      launch<T, I, Layout::NHWC, ChannelOrder::TF>(in, out, g, total, blocks, stream);
    } else {
      launch<T, I, Layout::NHWC, ChannelOrder::Torch>(in, out, g, total, blocks, stream);
    }
  }
}

template <typename T>
void launch_index(const void* in, void* out, const core::PixelShuffleGeometry& g, int64_t total,
                  ChannelOrder order, Layout layout, cudaStream_t stream) {
  // Enough blocks to fill any current GPU several times over; the loop covers the rest.
  const int64_t wanted = (total + kThreads - 1) / kThreads;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(wanted, int64_t{1} << 16));
  // 32-bit indices while idx + stride cannot overflow int32.
  const int64_t max_idx = total + static_cast<int64_t>(blocks) * kThreads;
  if (max_idx < (int64_t{1} << 31) - 1) {
    launch_typed<T, int32_t>(in, out, g, total, blocks, order, layout, stream);
  } else {
    launch_typed<T, int64_t>(in, out, g, total, blocks, order, layout, stream);
  }
}

}  // namespace

cudaError_t pixel_shuffle_cuda(const void* in, void* out, int64_t n, int64_t c_in, int64_t h,
                               int64_t w, int64_t scale, std::size_t elem_size,
                               core::ChannelOrder order, core::Layout layout,
                               cudaStream_t stream) {
  // Host-side checks: the same function and messages as the CPU kernel
  // (csrc/core/pixel_shuffle.cpp, linked into the same extension).
  const core::PixelShuffleGeometry g = core::make_pixel_shuffle_geometry(n, c_in, h, w, scale);
  core::check_elem_size(elem_size);
  if (order != ChannelOrder::Torch && order != ChannelOrder::TF) {
    core::fail_invalid("pixel_shuffle: unknown channel order " +
                       std::to_string(static_cast<int>(order)));
  }
  if (layout != Layout::NCHW && layout != Layout::NHWC) {
    core::fail_invalid("pixel_shuffle: unknown layout " +
                       std::to_string(static_cast<int>(layout)));
  }
  const int64_t total = core::pixel_shuffle_numel(g);
  const int64_t bytes = core::checked_bytes(total, elem_size, "pixel_shuffle: size in bytes");
  core::check_pointer(in, total, "pixel_shuffle: input");
  core::check_pointer(out, total, "pixel_shuffle: output");
  if (total == 0) {
    return cudaSuccess;
  }
  {
    const auto a = reinterpret_cast<uintptr_t>(in);
    const auto b = reinterpret_cast<uintptr_t>(out);
    const auto nb = static_cast<uintptr_t>(bytes);
    if (a < b + nb && b < a + nb) {
      core::fail_invalid("pixel_shuffle: input and output buffers overlap");
    }
  }
  if (scale == 1) {
    // Identity (both orders, both layouts).
    return cudaMemcpyAsync(out, in, static_cast<std::size_t>(bytes), cudaMemcpyDeviceToDevice,
                           stream);
  }
  switch (elem_size) {
    case 1:
      launch_index<UInt<1>::type>(in, out, g, total, order, layout, stream);
      break;
    case 2:
      launch_index<UInt<2>::type>(in, out, g, total, order, layout, stream);
      break;
    case 4:
      launch_index<UInt<4>::type>(in, out, g, total, order, layout, stream);
      break;
    default:
      launch_index<UInt<8>::type>(in, out, g, total, order, layout, stream);
      break;
  }
  return cudaGetLastError();
}

}  // namespace falsr::cuda
