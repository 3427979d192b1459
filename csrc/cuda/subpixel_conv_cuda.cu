// CUDA sub-pixel convolution: one thread per output element in output memory order
// (coalesced stores; cuda/subpixel_conv_point.h gathers the HR neighbourhood through the
// shuffle index). FALSR's tail has 1-3 output and HR channels, so the work per element is
// at most 3 * 3 * 3 * 4 multiply-adds: memory-bound, and the LR reads of neighbouring
// threads hit the same cache lines.
#include "cuda/subpixel_conv_cuda.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/shapes.h"
#include "core/subpixel_conv.h"

namespace falsr::cuda {
namespace {

constexpr int kThreads = 256;

template <StorageType T>
__global__ void __launch_bounds__(kThreads)
    subpixel_conv_kernel(const SubpixelConvParams p, int64_t total) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    subpixel_conv_point<T>(p, i);
  }
}

bool overlaps(const void* a, int64_t abytes, const void* b, int64_t bbytes) {
  const auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
  return pa < pb + static_cast<uintptr_t>(bbytes) && pb < pa + static_cast<uintptr_t>(abytes);
}

}  // namespace

cudaError_t subpixel_conv_cuda(const SubpixelConvParams& p, cudaStream_t stream) {
  const core::SubpixelConvGeometry& g = p.g;
  // Re-validates (throws unless g is consistent: the caller may have filled it by hand).
  core::make_subpixel_conv_geometry(g.n, g.c_in, g.h, g.w, g.s, g.c_out, g.c_hr, g.k);
  if (p.type != StorageType::F32 && p.type != StorageType::BF16 && p.type != StorageType::F16) {
    core::fail_invalid("subpixel_conv: unknown storage type " +
                       std::to_string(static_cast<int>(p.type)));
  }
  if (p.order != core::ChannelOrder::Torch && p.order != core::ChannelOrder::TF) {
    core::fail_invalid("subpixel_conv: unknown channel order");
  }
  if (p.layout != core::Layout::NCHW && p.layout != core::Layout::NHWC) {
    core::fail_invalid("subpixel_conv: unknown layout");
  }
  const int64_t in_numel = core::checked_numel({g.n, g.c_in, g.h, g.w}, "subpixel_conv: input");
  const int64_t total =
      core::checked_numel({g.n, g.c_out, g.h * g.s, g.w * g.s}, "subpixel_conv: output");
  if (total == 0) return cudaSuccess;
  core::check_pointer(p.x, in_numel, "subpixel_conv: x");
  core::check_pointer(p.weight, 1, "subpixel_conv: weight");
  core::check_pointer(p.out, total, "subpixel_conv: out");
  const int64_t es = storage_bytes(p.type);
  if (overlaps(p.out, total * es, p.x, in_numel * es) ||
      (p.residual != nullptr && overlaps(p.out, total * es, p.residual, in_numel * es))) {
    core::fail_invalid("subpixel_conv: out must not overlap x or the residual");
  }
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, int64_t{1} << 20);
  const auto grid = static_cast<unsigned>(blocks);
  switch (p.type) {
    case StorageType::F32:
      subpixel_conv_kernel<StorageType::F32><<<grid, kThreads, 0, stream>>>(p, total);
      break;
    case StorageType::BF16:
      subpixel_conv_kernel<StorageType::BF16><<<grid, kThreads, 0, stream>>>(p, total);
      break;
    default:
      subpixel_conv_kernel<StorageType::F16><<<grid, kThreads, 0, stream>>>(p, total);
      break;
  }
  return cudaGetLastError();
}

}  // namespace falsr::cuda
