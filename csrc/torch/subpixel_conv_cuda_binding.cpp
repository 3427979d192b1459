// CUDA implementation of falsr::subpixel_conv: the checks and memory-format rule of
// cpu/subpixel_conv_cpu.cpp for CUDA tensors (x, residual, weight and bias of one dtype:
// float32, bfloat16 or, on CUDA only, float16), then the torch-free launcher
// (cuda/subpixel_conv_cuda.h) on the current stream. Built only with CUDA (WITH_CUDA).
#ifdef WITH_CUDA

#include <optional>
#include <stdexcept>

#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "core/subpixel_conv.h"
#include "cpu/layout.h"
#include "cuda/subpixel_conv_cuda.h"
#include "torch/nhwc_cuda.h"

namespace falsr {
namespace {

constexpr const char* kOp = "falsr::subpixel_conv (CUDA): ";

at::Tensor subpixel_conv_cuda_impl(const at::Tensor& x, const std::optional<at::Tensor>& residual,
                                   const at::Tensor& weight,
                                   const std::optional<at::Tensor>& bias, int64_t scale,
                                   bool tf_order) {
  TORCH_CHECK(x.defined(), kOp, "input x is undefined");
  TORCH_CHECK(weight.defined(), kOp, "weight is undefined");
  TORCH_CHECK(x.is_cuda(), kOp, "expected CUDA tensors, got x on ", x.device());
  const c10::cuda::CUDAGuard device_guard(x.device());
  TORCH_CHECK(x.dim() == 4, kOp, "expected x to be a 4-D tensor [N, C*s*s, H, W], got a ",
              x.dim(), "-D tensor of shape ", x.sizes());
  const auto dtype = x.scalar_type();
  const cuda::StorageType type = cuda_storage_type(x, kOp, "x");
  const bool has_res = residual.has_value() && residual->defined();
  const bool has_bias = bias.has_value() && bias->defined();
  if (has_res) {
    TORCH_CHECK(residual->scalar_type() == dtype, kOp, "residual must have the dtype of x (",
                dtype, "), got ", residual->scalar_type());
    TORCH_CHECK(residual->sizes() == x.sizes(), kOp, "residual must have the shape of x ",
                x.sizes(), ", got ", residual->sizes());
    check_on_device(*residual, x.device(), kOp, "residual");
  }
  TORCH_CHECK(weight.scalar_type() == dtype, kOp, "weight must have the dtype of x (", dtype,
              "), got ", weight.scalar_type());
  check_on_device(weight, x.device(), kOp, "weight");
  TORCH_CHECK(weight.dim() == 4, kOp, "expected weight [Cout, C, k, k], got a ", weight.dim(),
              "-D tensor of shape ", weight.sizes());
  const int64_t k = weight.size(2);
  TORCH_CHECK(weight.size(3) == k && (k == 1 || k == 3), kOp,
              "weight kernel must be square 1x1 or 3x3, got ", weight.size(2), "x",
              weight.size(3));
  if (has_bias) {
    TORCH_CHECK(bias->scalar_type() == dtype, kOp, "bias must have the dtype of x (", dtype,
                "), got ", bias->scalar_type());
    check_on_device(*bias, x.device(), kOp, "bias");
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == weight.size(0), kOp,
                "expected bias of shape [", weight.size(0), "], got ", bias->sizes());
  }
  TORCH_CHECK(scale >= 1 && scale <= (int64_t{1} << 20), kOp, "scale must be in [1, 2^20], got ",
              scale);

  cuda::SubpixelConvParams p;
  try {
    p.g = core::make_subpixel_conv_geometry(x.size(0), x.size(1), x.size(2), x.size(3), scale,
                                            weight.size(0), weight.size(1), k);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, "falsr::", e.what());
  }
  const LayoutChoice choice = choose_layout(x);  // the shared rule, csrc/cpu/layout.h
  const at::Tensor xd = choice.tensor;
  const at::Tensor rd = has_res ? residual->contiguous(choice.memory_format) : at::Tensor();
  const at::Tensor wf = weight.to(at::kFloat).contiguous();
  const at::Tensor bf = has_bias ? bias->to(at::kFloat).contiguous() : at::Tensor();
  at::Tensor out = at::empty({p.g.n, p.g.c_out, p.g.h * p.g.s, p.g.w * p.g.s},
                             xd.options().memory_format(choice.memory_format));
  if (out.numel() == 0) return out;
  p.x = xd.const_data_ptr();
  p.residual = has_res ? rd.const_data_ptr() : nullptr;
  p.weight = wf.const_data_ptr<float>();
  p.bias = has_bias ? bf.const_data_ptr<float>() : nullptr;
  p.out = out.mutable_data_ptr();
  p.type = type;
  p.order = tf_order ? core::ChannelOrder::TF : core::ChannelOrder::Torch;
  p.layout = choice.layout;
  cudaError_t status = cudaSuccess;
  try {
    status = cuda::subpixel_conv_cuda(p, c10::cuda::getCurrentCUDAStream().stream());
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, "falsr::", e.what());
  }
  TORCH_CHECK(status == cudaSuccess, kOp, "CUDA launch failed: ", cudaGetErrorString(status));
  return out;
}

}  // namespace
}  // namespace falsr

TORCH_LIBRARY_IMPL(falsr, CUDA, m) {
  m.impl("subpixel_conv", &falsr::subpixel_conv_cuda_impl);
}

#endif  // WITH_CUDA
