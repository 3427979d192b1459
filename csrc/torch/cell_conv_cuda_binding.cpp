// CUDA implementation of falsr::cell_conv (+ .out): the checks of cpu/cell_conv_cpu.cpp for
// CUDA tensors (plus float16), NHWC views, then the torch-free launcher
// (cuda/cell_conv_cuda.h) on the current stream. Built only with CUDA (WITH_CUDA).
// direct_only=True (the CPU's "never Winograd", closest to PyTorch's arithmetic) here
// means never tensor cores: the fp32-FMA direct kernel with fp32 weights.
#ifdef WITH_CUDA

#include <optional>
#include <stdexcept>
#include <vector>

#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cuda/cell_conv_cuda.h"
#include "torch/nhwc_cuda.h"

namespace falsr {
namespace {

constexpr const char* kOp = "falsr::cell_conv (CUDA): ";

// Tensors the launch parameters point into, kept alive for the call.
struct Prepared {
  std::vector<at::Tensor> inputs;
  at::Tensor weight, bias, residual;
  cuda::CellConvParams params;
};

Prepared prepare(at::TensorList inputs, const at::Tensor& weight,
                 const std::optional<at::Tensor>& bias, int64_t groups, bool relu,
                 const std::optional<at::Tensor>& residual, bool direct_only) {
  TORCH_CHECK(!inputs.empty(), kOp, "expected at least one input tensor");
  TORCH_CHECK(static_cast<int64_t>(inputs.size()) <= cuda::kMaxConvInputs, kOp,
              "the CUDA kernel reads at most ", cuda::kMaxConvInputs, " input tensors, got ",
              inputs.size());
  const at::Tensor& first = inputs[0];
  TORCH_CHECK(first.defined() && first.dim() == 4, kOp,
              "inputs must be 4-D tensors [N, C, H, W]; input 0 has shape ",
              first.defined() ? first.sizes() : at::IntArrayRef{});
  TORCH_CHECK(first.is_cuda(), kOp, "input 0 is on ", first.device(), ", expected CUDA");
  const c10::Device device = first.device();
  Prepared p;
  auto& a = p.params;
  int64_t c_in = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const at::Tensor& t = inputs[i];
    TORCH_CHECK(t.defined() && t.dim() == 4, kOp, "input ", i, " must be a 4-D tensor, got ",
                t.defined() ? t.sizes() : at::IntArrayRef{});
    check_on_device(t, device, kOp, "an input");
    TORCH_CHECK(t.size(0) == first.size(0) && t.size(2) == first.size(2) &&
                    t.size(3) == first.size(3),
                kOp, "input ", i, " has shape ", t.sizes(), " but input 0 has ", first.sizes(),
                " (N, H and W must agree)");
    p.inputs.push_back(as_nhwc(t));
    a.inputs[i] = dev_plane(p.inputs.back(), kOp, "input");
    c_in += t.size(1);
  }
  a.num_inputs = static_cast<int32_t>(inputs.size());
  TORCH_CHECK(weight.defined() && weight.dim() == 4, kOp,
              "weight must be 4-D [Cout, Cin/groups, k, k]");
  TORCH_CHECK(groups >= 1 && c_in % groups == 0, kOp, "groups (", groups,
              ") must be >= 1 and divide the input channels (", c_in, ")");
  TORCH_CHECK(weight.size(1) * groups == c_in, kOp, "weight ", weight.sizes(), " expects ",
              weight.size(1) * groups, " input channels with groups=", groups,
              ", the inputs have ", c_in);
  const int64_t k = weight.size(2);
  TORCH_CHECK(weight.size(3) == k && (k == 1 || k == 3), kOp,
              "weight must be square 1x1 or 3x3, got ", weight.sizes());
  p.weight = f32_param(weight, device, kOp, "weight");
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == weight.size(0), kOp,
                "bias must have shape [", weight.size(0), "], got ", bias->sizes());
    p.bias = f32_param(*bias, device, kOp, "bias");
  }
  a.batch = first.size(0);
  a.height = first.size(2);
  a.width = first.size(3);
  a.weight = p.weight.const_data_ptr<float>();
  a.bias = p.bias.defined() ? p.bias.const_data_ptr<float>() : nullptr;
  a.in_channels = c_in;
  a.out_channels = weight.size(0);
  a.kernel = static_cast<int32_t>(k);
  a.groups = groups;
  a.relu = relu;
  a.allow_tensor_cores = !direct_only;
  if (residual.has_value() && residual->defined()) {
    const at::Tensor& r = *residual;
    check_on_device(r, device, kOp, "residual");
    TORCH_CHECK(r.dim() == 4 && r.size(0) == a.batch && r.size(1) == a.out_channels &&
                    r.size(2) == a.height && r.size(3) == a.width,
                kOp, "residual must have shape [", a.batch, ", ", a.out_channels, ", ",
                a.height, ", ", a.width, "], got ", r.sizes());
    p.residual = as_nhwc(r);
    a.num_residuals = 1;
    a.residuals[0] = dev_plane(p.residual, kOp, "residual");
  }
  return p;
}

void check_out(const Prepared& p, const at::Tensor& out) {
  const auto& a = p.params;
  TORCH_CHECK(out.defined(), kOp, "out is undefined");
  check_on_device(out, p.inputs[0].device(), kOp, "out");
  TORCH_CHECK(out.dim() == 4 && out.size(0) == a.batch && out.size(1) == a.out_channels &&
                  out.size(2) == a.height && out.size(3) == a.width,
              kOp, "out must have shape [", a.batch, ", ", a.out_channels, ", ", a.height, ", ",
              a.width, "], got ", out.sizes());
}

void run(Prepared& p, at::Tensor& out) {
  p.params.out = dev_mut_plane(out, kOp, "out");
  if (out.numel() == 0) return;
  cudaError_t status = cudaSuccess;
  try {
    status = cuda::cell_conv_cuda(p.params, c10::cuda::getCurrentCUDAStream().stream());
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, kOp, e.what());
  }
  TORCH_CHECK(status == cudaSuccess, kOp, "CUDA launch failed: ", cudaGetErrorString(status));
}

at::Tensor cell_conv_cuda_impl(at::TensorList inputs, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, int64_t groups, bool relu,
                               const std::optional<at::Tensor>& residual, bool direct_only) {
  TORCH_CHECK(!inputs.empty(), kOp, "expected at least one input tensor");
  TORCH_CHECK(inputs[0].defined() && inputs[0].is_cuda(), kOp,
              "input 0 must be a CUDA tensor, got ",
              inputs[0].defined() ? inputs[0].device() : c10::Device(c10::kCPU));
  const c10::cuda::CUDAGuard device_guard(inputs[0].device());
  Prepared p = prepare(inputs, weight, bias, groups, relu, residual, direct_only);
  const auto& a = p.params;
  at::Tensor out = at::empty({a.batch, a.out_channels, a.height, a.width},
                             p.inputs[0].options().memory_format(at::MemoryFormat::ChannelsLast));
  run(p, out);
  return out;
}

at::Tensor& cell_conv_out_cuda_impl(at::TensorList inputs, const at::Tensor& weight,
                                    const std::optional<at::Tensor>& bias, int64_t groups,
                                    bool relu, const std::optional<at::Tensor>& residual,
                                    bool direct_only, at::Tensor& out) {
  TORCH_CHECK(!inputs.empty(), kOp, "expected at least one input tensor");
  TORCH_CHECK(inputs[0].defined() && inputs[0].is_cuda(), kOp,
              "input 0 must be a CUDA tensor, got ",
              inputs[0].defined() ? inputs[0].device() : c10::Device(c10::kCPU));
  const c10::cuda::CUDAGuard device_guard(inputs[0].device());
  Prepared p = prepare(inputs, weight, bias, groups, relu, residual, direct_only);
  check_out(p, out);
  run(p, out);
  return out;
}

}  // namespace
}  // namespace falsr

TORCH_LIBRARY_IMPL(falsr, CUDA, m) {
  m.impl("cell_conv", &falsr::cell_conv_cuda_impl);
  m.impl("cell_conv.out", &falsr::cell_conv_out_cuda_impl);
}

#endif  // WITH_CUDA
