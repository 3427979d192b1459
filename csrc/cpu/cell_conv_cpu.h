// falsr::cell_conv on CPU tensors: out = act(conv2d(cat(inputs, 1), weight, bias, padding
// k/2, groups)) + residual, NHWC, the concat read in place (csrc/core/cell_conv.h).
#pragma once

#include <cstdint>
#include <optional>

#include <ATen/core/Tensor.h>

namespace falsr {

at::Tensor cell_conv_cpu(at::TensorList inputs, const at::Tensor& weight,
                         const std::optional<at::Tensor>& bias, int64_t groups, bool relu,
                         const std::optional<at::Tensor>& residual, bool direct_only);

at::Tensor& cell_conv_out_cpu(at::TensorList inputs, const at::Tensor& weight,
                              const std::optional<at::Tensor>& bias, int64_t groups, bool relu,
                              const std::optional<at::Tensor>& residual, bool direct_only,
                              at::Tensor& out);

// The code path make_cell_conv_plan picks for these arguments (e.g. "avx512/direct"), for
// tests and benchmarks.
std::string cell_conv_path_cpu(at::TensorList inputs, const at::Tensor& weight, int64_t groups,
                               bool direct_only);

}  // namespace falsr
