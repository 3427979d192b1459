// CUDA implementation of falsr::rgb_to_luma (schema: cpu/colour_cpu.cpp): an HxWxC
// (C >= 3, channels contiguous) uint8 / uint16 / float32 / float64 CUDA image to HxW
// float32 luma, bit for bit the CPU op, through the torch-free launcher
// (cuda/colour_cuda.h) on the current stream. compose_rgb has no CUDA kernel (a call on
// CUDA tensors fails in the dispatcher). Built only with CUDA (WITH_CUDA).
#ifdef WITH_CUDA

#include <stdexcept>

#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include "core/colour.h"
#include "cpu/image_layout.h"
#include "cuda/colour_cuda.h"

namespace falsr {
namespace {

constexpr const char* kOp = "falsr::rgb_to_luma (CUDA)";

core::PixelType cuda_pixel_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kByte:
      return core::PixelType::U8;
    case at::kUInt16:
      return core::PixelType::U16;
    case at::kFloat:
      return core::PixelType::F32;
    case at::kDouble:
      return core::PixelType::F64;
    default:
      TORCH_CHECK_TYPE(false, kOp, ": expected an image of dtype uint8, uint16, float32 or ",
                       "float64, got ", t.scalar_type());
  }
}

at::Tensor rgb_to_luma_cuda_impl(const at::Tensor& rgb_in) {
  TORCH_CHECK_VALUE(rgb_in.is_cuda(), kOp, ": expected a CUDA tensor, got ", rgb_in.device());
  const c10::cuda::CUDAGuard device_guard(rgb_in.device());
  TORCH_CHECK_VALUE(rgb_in.dim() == 3 && rgb_in.size(2) >= 3, kOp,
                    ": expected an HxWxC RGB image (C >= 3, channels last), got shape ",
                    rgb_in.sizes());
  TORCH_CHECK_VALUE(rgb_in.size(0) >= 1 && rgb_in.size(1) >= 1, kOp,
                    ": the image is empty (shape ", rgb_in.sizes(), ")");
  const core::PixelType type = cuda_pixel_type(rgb_in);
  const at::Tensor rgb = readable_image(rgb_in);
  const int64_t h = rgb.size(0), w = rgb.size(1);
  at::Tensor out = at::empty({h, w}, rgb.options().dtype(at::kFloat));
  const ImageStrides st = image_strides(rgb);
  cudaError_t status = cudaSuccess;
  try {
    status = cuda::rgb_to_luma_cuda(rgb.const_data_ptr(), type, h, w, st.row, st.pixel,
                                    out.mutable_data_ptr<float>(),
                                    c10::cuda::getCurrentCUDAStream().stream());
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, "falsr::", e.what());
  }
  TORCH_CHECK(status == cudaSuccess, kOp, ": CUDA launch failed: ", cudaGetErrorString(status));
  return out;
}

}  // namespace
}  // namespace falsr

TORCH_LIBRARY_IMPL(falsr, CUDA, m) {
  m.impl("rgb_to_luma", &falsr::rgb_to_luma_cuda_impl);
}

#endif  // WITH_CUDA
