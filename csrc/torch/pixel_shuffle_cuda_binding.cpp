// CUDA implementation of falsr::pixel_shuffle: the shared checks and layout choice
// (cpu/pixel_shuffle_cpu.h), then the torch-free launcher (cuda/pixel_shuffle_cuda.h)
// on the current stream. Compiled only when the extension is built with CUDA
// (setup.py adds csrc/torch/*_cuda*.cpp and defines WITH_CUDA); the guard keeps a
// CPU build harmless if this file is ever globbed in by mistake.
#ifdef WITH_CUDA

#include <stdexcept>

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>  // = at::cuda::getCurrentCUDAStream, without cuBLAS/cuSPARSE headers
#include <torch/library.h>

#include "cpu/pixel_shuffle_cpu.h"
#include "cuda/pixel_shuffle_cuda.h"

namespace falsr {
namespace {

at::Tensor pixel_shuffle_cuda_impl(const at::Tensor& x, int64_t scale, bool tf_order) {
  TORCH_CHECK(x.is_cuda(), "falsr::pixel_shuffle (CUDA): expected a CUDA tensor, got ",
              x.device());
  const c10::cuda::CUDAGuard device_guard(x.device());
  const PixelShufflePlan plan = plan_pixel_shuffle(x, scale, tf_order);
  at::Tensor out = empty_pixel_shuffle_output(plan);
  if (out.numel() == 0) {
    return out;
  }
  const auto& g = plan.geometry;
  cudaError_t status = cudaSuccess;
  try {
    status = cuda::pixel_shuffle_cuda(plan.input.const_data_ptr(), out.mutable_data_ptr(), g.n,
                                      g.c_in, g.h, g.w, g.s, plan.input.element_size(),
                                      plan.order, plan.layout,
                                      c10::cuda::getCurrentCUDAStream().stream());
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, "falsr::", e.what());
  }
  TORCH_CHECK(status == cudaSuccess, "falsr::pixel_shuffle: CUDA launch failed: ",
              cudaGetErrorString(status));
  return out;
}

}  // namespace
}  // namespace falsr

TORCH_LIBRARY_IMPL(falsr, CUDA, m) {
  m.impl("pixel_shuffle", &falsr::pixel_shuffle_cuda_impl);
}

#endif  // WITH_CUDA
