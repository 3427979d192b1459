// CUDA implementation of falsr::pixel_shuffle.out (the functional op's CUDA kernel is
// registered by pixel_shuffle_cuda_binding.cpp): the shared checks of
// cpu/pixel_shuffle_cpu.h, then cuda/pixel_shuffle_cuda.h into the caller's tensor on
// the current stream. Built only with CUDA (WITH_CUDA).
#ifdef WITH_CUDA

#include <stdexcept>

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cpu/pixel_shuffle_cpu.h"
#include "cuda/pixel_shuffle_cuda.h"

namespace falsr {
namespace {

at::Tensor& pixel_shuffle_out_cuda_impl(const at::Tensor& x, int64_t scale, bool tf_order,
                                        at::Tensor& out) {
  TORCH_CHECK(x.is_cuda(), "falsr::pixel_shuffle.out (CUDA): expected a CUDA tensor, got ",
              x.device());
  const c10::cuda::CUDAGuard device_guard(x.device());
  const PixelShufflePlan plan = plan_pixel_shuffle(x, scale, tf_order);
  check_pixel_shuffle_out(plan, out);
  if (out.numel() == 0) return out;
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
  TORCH_CHECK(status == cudaSuccess, "falsr::pixel_shuffle.out: CUDA launch failed: ",
              cudaGetErrorString(status));
  return out;
}

}  // namespace
}  // namespace falsr

TORCH_LIBRARY_IMPL(falsr, CUDA, m) {
  m.impl("pixel_shuffle.out", &falsr::pixel_shuffle_out_cuda_impl);
}

#endif  // WITH_CUDA
