// CPU implementation of falsr::subpixel_conv: checks and layout choice, then the
// framework-free kernel from csrc/core on PyTorch's intra-op thread pool
// (at::parallel_for: honours torch.set_num_threads, never nests threads).
#include "cpu/subpixel_conv_cpu.h"

#include "cpu/layout.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

namespace falsr {

SubpixelConvPlan plan_subpixel_conv(const at::Tensor& x, const std::optional<at::Tensor>& residual,
                                    const at::Tensor& weight,
                                    const std::optional<at::Tensor>& bias, int64_t scale,
                                    bool tf_order) {
  constexpr const char* kOp = "falsr::subpixel_conv: ";
  TORCH_CHECK(x.defined(), kOp, "input x is undefined");
  TORCH_CHECK(weight.defined(), kOp, "weight is undefined");
  TORCH_CHECK(x.dim() == 4, kOp, "expected x to be a 4-D tensor [N, C*s*s, H, W], got a ",
              x.dim(), "-D tensor of shape ", x.sizes());
  const auto dtype = x.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kBFloat16, kOp,
              "expected x of dtype float32 or bfloat16, got dtype ", dtype);
  const bool has_res = residual.has_value() && residual->defined();
  const bool has_bias = bias.has_value() && bias->defined();
  if (has_res) {
    TORCH_CHECK(residual->scalar_type() == dtype, kOp,
                "residual must have the dtype of x (", dtype, "), got ",
                residual->scalar_type());
    TORCH_CHECK(residual->sizes() == x.sizes(), kOp, "residual must have the shape of x ",
                x.sizes(), ", got ", residual->sizes());
    TORCH_CHECK(residual->device() == x.device(), kOp, "residual is on ", residual->device(),
                " but x is on ", x.device());
  }
  TORCH_CHECK(weight.scalar_type() == dtype, kOp, "weight must have the dtype of x (", dtype,
              "), got ", weight.scalar_type());
  TORCH_CHECK(weight.device() == x.device(), kOp, "weight is on ", weight.device(),
              " but x is on ", x.device());
  TORCH_CHECK(weight.dim() == 4, kOp, "expected weight [Cout, C, k, k], got a ", weight.dim(),
              "-D tensor of shape ", weight.sizes());
  const int64_t k = weight.size(2);
  TORCH_CHECK(weight.size(3) == k && (k == 1 || k == 3), kOp,
              "weight kernel must be square 1x1 or 3x3, got ", weight.size(2), "x",
              weight.size(3));
  TORCH_CHECK(weight.size(0) >= 1, kOp, "weight must have at least one output channel");
  if (has_bias) {
    TORCH_CHECK(bias->scalar_type() == dtype, kOp, "bias must have the dtype of x (", dtype,
                "), got ", bias->scalar_type());
    TORCH_CHECK(bias->device() == x.device(), kOp, "bias is on ", bias->device(),
                " but x is on ", x.device());
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == weight.size(0), kOp,
                "expected bias of shape [", weight.size(0), "], got ", bias->sizes());
  }
  TORCH_CHECK(scale >= 1, kOp, "scale must be >= 1, got ", scale);
  TORCH_CHECK(scale <= (int64_t{1} << 20), kOp, "scale ", scale, " is unreasonably large");
  const int64_t c_in = x.size(1);
  TORCH_CHECK(c_in % (scale * scale) == 0, kOp, "input channels (", c_in,
              ") must be divisible by scale*scale (", scale, "*", scale, " = ", scale * scale,
              "); x shape ", x.sizes());
  TORCH_CHECK(weight.size(1) == c_in / (scale * scale), kOp, "weight in-channels (",
              weight.size(1), ") must equal input channels / scale^2 (", c_in, " / ",
              scale * scale, " = ", c_in / (scale * scale), ")");

  SubpixelConvPlan plan;
  LayoutChoice choice = choose_layout(x);  // the shared rule, csrc/cpu/layout.h
  plan.x = std::move(choice.tensor);
  plan.layout = choice.layout;
  plan.memory_format = choice.memory_format;
  if (has_res) {
    plan.residual = residual->contiguous(plan.memory_format);
  }
  plan.weight = weight.to(at::kFloat).contiguous();
  if (has_bias) {
    plan.bias = bias->to(at::kFloat).contiguous();
  }
  plan.dtype = dtype == at::kFloat ? core::SubpixelDType::Float32 : core::SubpixelDType::BFloat16;
  plan.order = tf_order ? core::ChannelOrder::TF : core::ChannelOrder::Torch;
  try {
    plan.geometry = core::make_subpixel_conv_geometry(x.size(0), c_in, x.size(2), x.size(3),
                                                      scale, weight.size(0), weight.size(1), k);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, "falsr::", e.what());
  }
  return plan;
}

at::Tensor empty_subpixel_conv_output(const SubpixelConvPlan& plan) {
  const auto& g = plan.geometry;
  return at::empty({g.n, g.c_out, g.h * g.s, g.w * g.s},
                   plan.x.options().memory_format(plan.memory_format));
}

at::Tensor subpixel_conv_cpu(const at::Tensor& x, const std::optional<at::Tensor>& residual,
                             const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                             int64_t scale, bool tf_order) {
  TORCH_CHECK(x.device().is_cpu(), "falsr::subpixel_conv (CPU): expected CPU tensors, got ",
              x.device());
  const SubpixelConvPlan plan = plan_subpixel_conv(x, residual, weight, bias, scale, tf_order);
  at::Tensor out = empty_subpixel_conv_output(plan);
  if (out.numel() == 0) {
    return out;
  }
  core::SubpixelConvArgs a;
  a.x = plan.x.const_data_ptr();
  a.residual = plan.residual.defined() ? plan.residual.const_data_ptr() : nullptr;
  a.weight = plan.weight.const_data_ptr<float>();
  a.bias = plan.bias.defined() ? plan.bias.const_data_ptr<float>() : nullptr;
  a.out = out.mutable_data_ptr();
  a.dtype = plan.dtype;
  a.order = plan.order;
  a.layout = plan.layout;
  const auto& g = plan.geometry;
  const int64_t tasks = core::subpixel_conv_num_tasks(g);
  // Serial below ~1M MACs; above, contiguous ranges of row blocks per thread.
  const int64_t task_macs = std::max<int64_t>(
      1, core::subpixel_conv_rows_per_task(g) * g.w * g.s * g.c_out * g.c_hr * g.k * g.k);
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 20) / task_macs);
  try {
    at::parallel_for(0, tasks, grain, [&](int64_t begin, int64_t end) {
      core::subpixel_conv_tasks(a, g, begin, end);
    });
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, "falsr::", e.what());
  }
  return out;
}

}  // namespace falsr

TORCH_LIBRARY_IMPL(falsr, CPU, m) {
  m.impl("subpixel_conv", &falsr::subpixel_conv_cpu);
}
