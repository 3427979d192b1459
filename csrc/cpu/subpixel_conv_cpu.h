// falsr::subpixel_conv on CPU tensors: the fused residual add + sub-pixel shuffle +
// reconstruction conv of the FALSR tail (csrc/core/subpixel_conv.h), plus the argument
// checks and memory-format choice a CUDA binding can share.
#pragma once

#include <cstdint>
#include <optional>

#include <ATen/core/Tensor.h>

#include "core/subpixel_conv.h"

namespace falsr {

// Everything a device implementation needs: dense inputs in one layout, fp32 weights,
// the validated geometry and the output's memory format.
struct SubpixelConvPlan {
  at::Tensor x;         // NCHW- or channels_last-contiguous
  at::Tensor residual;  // same layout as x, or undefined
  at::Tensor weight;    // [Cout, C, k, k] contiguous float32
  at::Tensor bias;      // [Cout] contiguous float32, or undefined
  core::SubpixelConvGeometry geometry;
  core::SubpixelDType dtype;
  core::Layout layout;
  at::MemoryFormat memory_format;
  core::ChannelOrder order;
};

// Checks every argument (TORCH_CHECK: RuntimeError in Python) and builds the plan.
SubpixelConvPlan plan_subpixel_conv(const at::Tensor& x, const std::optional<at::Tensor>& residual,
                                    const at::Tensor& weight,
                                    const std::optional<at::Tensor>& bias, int64_t scale,
                                    bool tf_order);

// Output tensor for a plan: [N, Cout, H*s, W*s], x's dtype/device, plan's memory format.
at::Tensor empty_subpixel_conv_output(const SubpixelConvPlan& plan);

// The CPU implementation registered for falsr::subpixel_conv.
at::Tensor subpixel_conv_cpu(const at::Tensor& x, const std::optional<at::Tensor>& residual,
                             const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                             int64_t scale, bool tf_order);

}  // namespace falsr
