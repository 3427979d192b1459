// CPU implementation of falsr::cell_conv: torch-level checks, NHWC views of the tensors,
// then the framework-free plan from csrc/core run on PyTorch's intra-op thread pool
// (at::parallel_for: honours torch.set_num_threads, never nests threads).
#include "cpu/cell_conv_cpu.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#include "core/cell_conv.h"
#include "cpu/nhwc.h"

namespace falsr {

namespace {

constexpr const char* kOp = "falsr::cell_conv: ";

// Tensors the core arguments point into, kept alive for the call.
struct Prepared {
  std::vector<at::Tensor> inputs;
  at::Tensor weight, bias, residual;
  core::CellConvArgs args;
};

Prepared prepare(at::TensorList inputs, const at::Tensor& weight,
                 const std::optional<at::Tensor>& bias, int64_t groups, bool relu,
                 const std::optional<at::Tensor>& residual, bool direct_only) {
  TORCH_CHECK(!inputs.empty(), kOp, "expected at least one input tensor");
  const at::Tensor& first = inputs[0];
  TORCH_CHECK(first.defined() && first.dim() == 4, kOp,
              "inputs must be 4-D tensors [N, C, H, W]; input 0 has shape ",
              first.defined() ? first.sizes() : at::IntArrayRef{});
  Prepared p;
  int64_t c_in = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const at::Tensor& t = inputs[i];
    TORCH_CHECK(t.defined() && t.dim() == 4, kOp, "input ", i, " must be a 4-D tensor, got ",
                t.defined() ? t.sizes() : at::IntArrayRef{});
    TORCH_CHECK(t.device().is_cpu(), kOp, "input ", i, " is on ", t.device(),
                ", expected the CPU");
    TORCH_CHECK(t.size(0) == first.size(0) && t.size(2) == first.size(2) &&
                    t.size(3) == first.size(3),
                kOp, "input ", i, " has shape ", t.sizes(), " but input 0 has ", first.sizes(),
                " (N, H and W must agree)");
    p.inputs.push_back(as_nhwc(t));
    p.args.inputs.push_back(const_plane(p.inputs.back(), kOp, "input"));
    c_in += t.size(1);
  }
  TORCH_CHECK(weight.defined() && weight.dim() == 4, kOp,
              "weight must be 4-D [Cout, Cin/groups, k, k]");
  TORCH_CHECK(weight.device().is_cpu(), kOp, "weight is on ", weight.device());
  TORCH_CHECK(weight.scalar_type() == at::kFloat || weight.scalar_type() == at::kBFloat16, kOp,
              "weight must be float32 or bfloat16, got ", weight.scalar_type());
  TORCH_CHECK(groups >= 1 && c_in % groups == 0, kOp, "groups (", groups,
              ") must be >= 1 and divide the input channels (", c_in, ")");
  TORCH_CHECK(weight.size(1) * groups == c_in, kOp, "weight ", weight.sizes(),
              " expects ", weight.size(1) * groups, " input channels with groups=", groups,
              ", the inputs have ", c_in);
  p.weight = weight.to(at::kFloat).contiguous();
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->device().is_cpu(), kOp, "bias is on ", bias->device());
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == weight.size(0), kOp,
                "bias must have shape [", weight.size(0), "], got ", bias->sizes());
    p.bias = bias->to(at::kFloat).contiguous();
  }
  auto& a = p.args;
  a.batch = first.size(0);
  a.height = first.size(2);
  a.width = first.size(3);
  a.weight = p.weight.const_data_ptr<float>();
  a.bias = p.bias.defined() ? p.bias.const_data_ptr<float>() : nullptr;
  a.out_channels = weight.size(0);
  a.kernel = weight.size(2);
  TORCH_CHECK(weight.size(3) == a.kernel, kOp, "weight must be square, got ", weight.sizes());
  a.groups = groups;
  a.relu = relu;
  a.algo = direct_only ? core::ConvAlgo::Direct : core::ConvAlgo::Auto;
  if (residual.has_value() && residual->defined()) {
    const at::Tensor& r = *residual;
    TORCH_CHECK(r.device().is_cpu(), kOp, "residual is on ", r.device());
    TORCH_CHECK(r.dim() == 4 && r.size(0) == a.batch && r.size(1) == a.out_channels &&
                    r.size(2) == a.height && r.size(3) == a.width,
                kOp, "residual must have shape [", a.batch, ", ", a.out_channels, ", ",
                a.height, ", ", a.width, "], got ", r.sizes());
    p.residual = as_nhwc(r);
    a.has_residual = true;
    a.residual = const_plane(p.residual, kOp, "residual");
  }
  return p;
}

void check_out(const Prepared& p, const at::Tensor& out) {
  const auto& a = p.args;
  TORCH_CHECK(out.defined() && out.device().is_cpu(), kOp, "out must be a CPU tensor");
  TORCH_CHECK(out.dim() == 4 && out.size(0) == a.batch && out.size(1) == a.out_channels &&
                  out.size(2) == a.height && out.size(3) == a.width,
              kOp, "out must have shape [", a.batch, ", ", a.out_channels, ", ", a.height, ", ",
              a.width, "], got ", out.sizes());
}

std::unique_ptr<core::CellConvPlan> make_plan(const core::CellConvArgs& a) {
  try {
    return core::make_cell_conv_plan(a);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, kOp, e.what());
  }
}

void run(Prepared& p, at::Tensor& out) {
  p.args.out = mut_plane(out, kOp, "out");
  if (out.numel() == 0) return;
  const auto plan = make_plan(p.args);
  at::parallel_for(0, plan->num_tasks(), 1, [&](int64_t begin, int64_t end) {
    plan->run_tasks(p.args, begin, end);
  });
}

at::Tensor empty_output(const Prepared& p, at::ScalarType dtype) {
  const auto& a = p.args;
  return at::empty({a.batch, a.out_channels, a.height, a.width},
                   p.inputs[0].options().dtype(dtype).memory_format(at::MemoryFormat::ChannelsLast));
}

}  // namespace

at::Tensor cell_conv_cpu(at::TensorList inputs, const at::Tensor& weight,
                         const std::optional<at::Tensor>& bias, int64_t groups, bool relu,
                         const std::optional<at::Tensor>& residual, bool direct_only) {
  Prepared p = prepare(inputs, weight, bias, groups, relu, residual, direct_only);
  at::Tensor out = empty_output(p, inputs[0].scalar_type());
  run(p, out);
  return out;
}

at::Tensor& cell_conv_out_cpu(at::TensorList inputs, const at::Tensor& weight,
                              const std::optional<at::Tensor>& bias, int64_t groups, bool relu,
                              const std::optional<at::Tensor>& residual, bool direct_only,
                              at::Tensor& out) {
  Prepared p = prepare(inputs, weight, bias, groups, relu, residual, direct_only);
  check_out(p, out);
  run(p, out);
  return out;
}

std::string cell_conv_path_cpu(at::TensorList inputs, const at::Tensor& weight, int64_t groups,
                               bool direct_only) {
  Prepared p = prepare(inputs, weight, std::nullopt, groups, false, std::nullopt, direct_only);
  at::Tensor out = empty_output(p, inputs[0].scalar_type());
  p.args.out = mut_plane(out, kOp, "out");
  return make_plan(p.args)->path();
}

}  // namespace falsr
