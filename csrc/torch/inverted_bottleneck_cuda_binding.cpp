// CUDA implementation of falsr::inverted_bottleneck (+ .out): the checks of
// cpu/inverted_bottleneck_cpu.cpp for CUDA tensors (plus float16), then the torch-free
// launcher (cuda/inverted_bottleneck_cuda.h) with its fp32 scratch from PyTorch's caching
// allocator, on the current stream. Built only with CUDA (WITH_CUDA).
#ifdef WITH_CUDA

#include <optional>
#include <stdexcept>
#include <vector>

#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cuda/inverted_bottleneck_cuda.h"
#include "torch/nhwc_cuda.h"

namespace falsr {
namespace {

constexpr const char* kOp = "falsr::inverted_bottleneck (CUDA): ";

struct Prepared {
  at::Tensor x, residual, scratch;
  std::vector<at::Tensor> weights;  // fp32 contiguous copies kept alive
  cuda::InvertedBottleneckCudaArgs args;
};

const float* weight_ptr(Prepared& p, const at::Tensor& w, const char* what,
                        std::vector<int64_t> shape) {
  TORCH_CHECK(w.defined(), kOp, what, " is undefined");
  TORCH_CHECK(w.sizes() == at::IntArrayRef(shape), kOp, what, " must have shape ",
              at::IntArrayRef(shape), ", got ", w.sizes());
  p.weights.push_back(f32_param(w, p.x.device(), kOp, what));
  return p.weights.back().const_data_ptr<float>();
}

const float* bias_ptr(Prepared& p, const std::optional<at::Tensor>& b, const char* what,
                      int64_t n) {
  if (!b.has_value() || !b->defined()) return nullptr;
  return weight_ptr(p, *b, what, {n});
}

Prepared prepare(const at::Tensor& x, const at::Tensor& expand_w,
                 const std::optional<at::Tensor>& expand_b, const at::Tensor& dw_w,
                 const std::optional<at::Tensor>& dw_b, const at::Tensor& project_w,
                 const std::optional<at::Tensor>& project_b,
                 const std::optional<at::Tensor>& extra_residual) {
  TORCH_CHECK(x.defined() && x.dim() == 4, kOp, "x must be a 4-D tensor [N, f, H, W]");
  TORCH_CHECK(x.is_cuda(), kOp, "x is on ", x.device(), ", expected a CUDA tensor");
  TORCH_CHECK(expand_w.defined() && expand_w.dim() == 4, kOp,
              "expand_w must be 4-D [6f, f, k, k]");
  Prepared p;
  p.weights.reserve(6);
  auto& a = p.args;
  const int64_t f = x.size(1), wide = expand_w.size(0), k = expand_w.size(2);
  TORCH_CHECK(k == 1 || k == 3, kOp, "expand/project kernel must be 1 or 3, got ", k);
  TORCH_CHECK(expand_w.size(1) == f, kOp, "expand_w ", expand_w.sizes(), " expects ",
              expand_w.size(1), " input channels, x has ", f);
  a.batch = x.size(0);
  a.height = x.size(2);
  a.width = x.size(3);
  a.filters = f;
  a.kernel = k;
  a.wide = wide;
  p.x = as_nhwc(x);
  a.x = dev_plane(p.x, kOp, "x");
  a.expand_w = weight_ptr(p, expand_w, "expand_w", {wide, f, k, k});
  a.expand_b = bias_ptr(p, expand_b, "expand_b", wide);
  a.dw_w = weight_ptr(p, dw_w, "dw_w", {wide, 1, 3, 3});
  a.dw_b = bias_ptr(p, dw_b, "dw_b", wide);
  a.project_w = weight_ptr(p, project_w, "project_w", {f, wide, k, k});
  a.project_b = bias_ptr(p, project_b, "project_b", f);
  if (extra_residual.has_value() && extra_residual->defined()) {
    const at::Tensor& r = *extra_residual;
    check_on_device(r, x.device(), kOp, "extra_residual");
    TORCH_CHECK(r.sizes() == x.sizes(), kOp, "extra_residual must have x's shape ", x.sizes(),
                ", got ", r.sizes());
    p.residual = as_nhwc(r);
    a.has_extra_residual = true;
    a.extra_residual = dev_plane(p.residual, kOp, "extra_residual");
  }
  return p;
}

void run(Prepared& p, at::Tensor& out) {
  TORCH_CHECK(out.defined() && out.sizes() == p.x.sizes(), kOp, "out must have x's shape ",
              p.x.sizes(), ", got ", out.defined() ? out.sizes() : at::IntArrayRef{});
  check_on_device(out, p.x.device(), kOp, "out");
  auto& a = p.args;
  a.out = dev_mut_plane(out, kOp, "out");
  if (out.numel() == 0) return;
  cudaError_t status = cudaSuccess;
  try {
    const int64_t floats =
        cuda::inverted_bottleneck_cuda_scratch_floats(a.batch, a.height, a.width, a.wide);
    p.scratch = at::empty({floats}, p.x.options().dtype(at::kFloat));
    a.scratch = p.scratch.mutable_data_ptr<float>();
    status = cuda::inverted_bottleneck_cuda(a, c10::cuda::getCurrentCUDAStream().stream());
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, kOp, e.what());
  }
  TORCH_CHECK(status == cudaSuccess, kOp, "CUDA launch failed: ", cudaGetErrorString(status));
}

at::Tensor inverted_bottleneck_cuda_impl(const at::Tensor& x, const at::Tensor& expand_w,
                                         const std::optional<at::Tensor>& expand_b,
                                         const at::Tensor& dw_w,
                                         const std::optional<at::Tensor>& dw_b,
                                         const at::Tensor& project_w,
                                         const std::optional<at::Tensor>& project_b,
                                         const std::optional<at::Tensor>& extra_residual) {
  TORCH_CHECK(x.defined() && x.is_cuda(), kOp, "x must be a CUDA tensor");
  const c10::cuda::CUDAGuard device_guard(x.device());
  Prepared p = prepare(x, expand_w, expand_b, dw_w, dw_b, project_w, project_b, extra_residual);
  at::Tensor out =
      at::empty(p.x.sizes(), p.x.options().memory_format(at::MemoryFormat::ChannelsLast));
  run(p, out);
  return out;
}

at::Tensor& inverted_bottleneck_out_cuda_impl(
    const at::Tensor& x, const at::Tensor& expand_w, const std::optional<at::Tensor>& expand_b,
    const at::Tensor& dw_w, const std::optional<at::Tensor>& dw_b, const at::Tensor& project_w,
    const std::optional<at::Tensor>& project_b, const std::optional<at::Tensor>& extra_residual,
    at::Tensor& out) {
  TORCH_CHECK(x.defined() && x.is_cuda(), kOp, "x must be a CUDA tensor");
  const c10::cuda::CUDAGuard device_guard(x.device());
  Prepared p = prepare(x, expand_w, expand_b, dw_w, dw_b, project_w, project_b, extra_residual);
  run(p, out);
  return out;
}

}  // namespace
}  // namespace falsr

TORCH_LIBRARY_IMPL(falsr, CUDA, m) {
  m.impl("inverted_bottleneck", &falsr::inverted_bottleneck_cuda_impl);
  m.impl("inverted_bottleneck.out", &falsr::inverted_bottleneck_out_cuda_impl);
}

#endif  // WITH_CUDA
