// falsr::inverted_bottleneck on CPU tensors (csrc/core/inverted_bottleneck.h):
// out = x + project(ReLU(dw3x3(ReLU(expand(x))))) [+ extra_residual], NHWC, fused.
#pragma once

#include <optional>

#include <ATen/core/Tensor.h>

namespace falsr {

at::Tensor inverted_bottleneck_cpu(const at::Tensor& x, const at::Tensor& expand_w,
                                   const std::optional<at::Tensor>& expand_b,
                                   const at::Tensor& dw_w, const std::optional<at::Tensor>& dw_b,
                                   const at::Tensor& project_w,
                                   const std::optional<at::Tensor>& project_b,
                                   const std::optional<at::Tensor>& extra_residual);

at::Tensor& inverted_bottleneck_out_cpu(
    const at::Tensor& x, const at::Tensor& expand_w, const std::optional<at::Tensor>& expand_b,
    const at::Tensor& dw_w, const std::optional<at::Tensor>& dw_b, const at::Tensor& project_w,
    const std::optional<at::Tensor>& project_b, const std::optional<at::Tensor>& extra_residual,
    at::Tensor& out);

}  // namespace falsr
