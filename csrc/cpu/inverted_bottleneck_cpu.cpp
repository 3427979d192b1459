// CPU implementation of falsr::inverted_bottleneck: torch-level checks, NHWC views, then
// the fused plan from csrc/core on PyTorch's intra-op thread pool (at::parallel_for).
#include "cpu/inverted_bottleneck_cpu.h"

#include <stdexcept>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#include "core/inverted_bottleneck.h"
#include "cpu/nhwc.h"

namespace falsr {

namespace {

constexpr const char* kOp = "falsr::inverted_bottleneck: ";

struct Prepared {
  at::Tensor x, residual;
  std::vector<at::Tensor> weights;  // fp32 contiguous copies kept alive
  core::InvertedBottleneckArgs args;
};

const float* weight_ptr(Prepared& p, const at::Tensor& w, const char* what,
                        std::vector<int64_t> shape) {
  TORCH_CHECK(w.defined() && w.device().is_cpu(), kOp, what, " must be a CPU tensor");
  TORCH_CHECK(w.sizes() == at::IntArrayRef(shape), kOp, what, " must have shape ",
              at::IntArrayRef(shape), ", got ", w.sizes());
  TORCH_CHECK(w.scalar_type() == at::kFloat || w.scalar_type() == at::kBFloat16, kOp, what,
              " must be float32 or bfloat16, got ", w.scalar_type());
  p.weights.push_back(w.to(at::kFloat).contiguous());
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
  TORCH_CHECK(x.device().is_cpu(), kOp, "x is on ", x.device(), ", expected the CPU");
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
  a.x = const_plane(p.x, kOp, "x");
  a.expand_w = weight_ptr(p, expand_w, "expand_w", {wide, f, k, k});
  a.expand_b = bias_ptr(p, expand_b, "expand_b", wide);
  a.dw_w = weight_ptr(p, dw_w, "dw_w", {wide, 1, 3, 3});
  a.dw_b = bias_ptr(p, dw_b, "dw_b", wide);
  a.project_w = weight_ptr(p, project_w, "project_w", {f, wide, k, k});
  a.project_b = bias_ptr(p, project_b, "project_b", f);
  if (extra_residual.has_value() && extra_residual->defined()) {
    const at::Tensor& r = *extra_residual;
    TORCH_CHECK(r.device().is_cpu() && r.sizes() == x.sizes(), kOp,
                "extra_residual must be a CPU tensor of x's shape ", x.sizes(), ", got ",
                r.sizes());
    p.residual = as_nhwc(r);
    a.has_extra_residual = true;
    a.extra_residual = const_plane(p.residual, kOp, "extra_residual");
  }
  return p;
}

void run(Prepared& p, at::Tensor& out) {
  TORCH_CHECK(out.defined() && out.device().is_cpu() && out.sizes() == p.x.sizes(), kOp,
              "out must be a CPU tensor of x's shape ", p.x.sizes(), ", got ",
              out.defined() ? out.sizes() : at::IntArrayRef{});
  p.args.out = mut_plane(out, kOp, "out");
  if (out.numel() == 0) return;
  std::unique_ptr<core::InvertedBottleneckPlan> plan;
  try {
    plan = core::make_inverted_bottleneck_plan(p.args);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, kOp, e.what());
  }
  at::parallel_for(0, plan->num_tasks(), 1, [&](int64_t begin, int64_t end) {
    plan->run_tasks(p.args, begin, end);
  });
}

}  // namespace

at::Tensor inverted_bottleneck_cpu(const at::Tensor& x, const at::Tensor& expand_w,
                                   const std::optional<at::Tensor>& expand_b,
                                   const at::Tensor& dw_w, const std::optional<at::Tensor>& dw_b,
                                   const at::Tensor& project_w,
                                   const std::optional<at::Tensor>& project_b,
                                   const std::optional<at::Tensor>& extra_residual) {
  Prepared p = prepare(x, expand_w, expand_b, dw_w, dw_b, project_w, project_b, extra_residual);
  at::Tensor out = at::empty(p.x.sizes(), p.x.options().memory_format(at::MemoryFormat::ChannelsLast));
  run(p, out);
  return out;
}

at::Tensor& inverted_bottleneck_out_cpu(
    const at::Tensor& x, const at::Tensor& expand_w, const std::optional<at::Tensor>& expand_b,
    const at::Tensor& dw_w, const std::optional<at::Tensor>& dw_b, const at::Tensor& project_w,
    const std::optional<at::Tensor>& project_b, const std::optional<at::Tensor>& extra_residual,
    at::Tensor& out) {
  Prepared p = prepare(x, expand_w, expand_b, dw_w, dw_b, project_w, project_b, extra_residual);
  run(p, out);
  return out;
}

}  // namespace falsr
