// CUDA rgb_to_luma: one thread per output pixel, row-major, so the float32 stores are
// coalesced; the arithmetic is cuda/colour_point.h's (bit for bit the CPU op).
#include "cuda/colour_cuda.h"

#include <algorithm>
#include <string>

#include "core/shapes.h"
#include "cuda/colour_point.h"

namespace falsr::cuda {
namespace {

constexpr int kThreads = 256;

template <class In>
__global__ void __launch_bounds__(kThreads)
    luma_kernel(const In* src, int64_t h, int64_t w, int64_t rs, int64_t ps, float* dst) {
  const int64_t total = h * w;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    dst[i] = luma_point(src, i / w, i % w, rs, ps);
  }
}

template <class In>
void launch(const void* src, int64_t h, int64_t w, int64_t rs, int64_t ps, float* dst,
            cudaStream_t stream) {
  const int64_t blocks = std::min<int64_t>((h * w + kThreads - 1) / kThreads, int64_t{1} << 20);
  luma_kernel<In><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      static_cast<const In*>(src), h, w, rs, ps, dst);
}

}  // namespace

cudaError_t rgb_to_luma_cuda(const void* src, core::PixelType type, int64_t h, int64_t w,
                             int64_t row_stride, int64_t pixel_stride, float* dst,
                             cudaStream_t stream) {
  core::check_non_negative(h, "rgb_to_luma: height");
  core::check_non_negative(w, "rgb_to_luma: width");
  core::check_pointer(src, h * w, "rgb_to_luma: src");
  core::check_pointer(dst, h * w, "rgb_to_luma: dst");
  if (pixel_stride < 3 || row_stride < (w - 1) * pixel_stride + 3) {
    core::fail_invalid("rgb_to_luma: strides (row " + std::to_string(row_stride) + ", pixel " +
                       std::to_string(pixel_stride) +
                       ") do not hold 3-channel pixels without overlap");
  }
  if (h == 0 || w == 0) return cudaSuccess;
  switch (type) {
    case core::PixelType::U8:
      launch<uint8_t>(src, h, w, row_stride, pixel_stride, dst, stream);
      break;
    case core::PixelType::U16:
      launch<uint16_t>(src, h, w, row_stride, pixel_stride, dst, stream);
      break;
    case core::PixelType::F32:
      launch<float>(src, h, w, row_stride, pixel_stride, dst, stream);
      break;
    case core::PixelType::F64:
      launch<double>(src, h, w, row_stride, pixel_stride, dst, stream);
      break;
    default:
      core::fail_invalid("rgb_to_luma: unknown pixel type");
  }
  return cudaGetLastError();
}

}  // namespace falsr::cuda
