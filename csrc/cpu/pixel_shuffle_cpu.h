// falsr::pixel_shuffle on CPU tensors, plus the argument checks and memory-format
// choice shared with the CUDA binding (csrc/torch/pixel_shuffle_cuda_binding.cpp).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#include "core/pixel_shuffle.h"
#include "cpu/layout.h"

namespace falsr {

// Everything a device implementation needs: a dense input, the validated geometry,
// the layout the kernel runs in, and the memory format of the output.
struct PixelShufflePlan {
  at::Tensor input;  // NCHW-contiguous or channels_last-contiguous
  core::PixelShuffleGeometry geometry;
  core::Layout layout;
  at::MemoryFormat memory_format;
  core::ChannelOrder order;
};

// Checks x (4-D, float32 / bfloat16 / float16 / float64) and scale; throws c10::Error
// (RuntimeError in Python) with a message naming the problem.
inline PixelShufflePlan plan_pixel_shuffle(const at::Tensor& x, int64_t scale, bool tf_order) {
  TORCH_CHECK(x.defined(), "falsr::pixel_shuffle: input tensor is undefined");
  TORCH_CHECK(x.dim() == 4, "falsr::pixel_shuffle: expected a 4-D tensor [N, C, H, W], got a ",
              x.dim(), "-D tensor of shape ", x.sizes());
  const auto dtype = x.scalar_type();
  // A pure copy, so every floating dtype works (float64 makes gradcheck possible).
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kBFloat16 || dtype == at::kHalf ||
                  dtype == at::kDouble,
              "falsr::pixel_shuffle: expected a floating-point tensor (float32, bfloat16, "
              "float16 or float64), got dtype ",
              dtype);
  TORCH_CHECK(scale >= 1, "falsr::pixel_shuffle: scale must be >= 1, got ", scale);
  TORCH_CHECK(scale <= (int64_t{1} << 20), "falsr::pixel_shuffle: scale ", scale,
              " is unreasonably large");
  const int64_t c_in = x.size(1);
  TORCH_CHECK(c_in % (scale * scale) == 0, "falsr::pixel_shuffle: input channels (", c_in,
              ") must be divisible by scale*scale (", scale, "*", scale, " = ", scale * scale,
              "); input shape ", x.sizes());

  PixelShufflePlan plan;
  LayoutChoice choice = choose_layout(x);  // the shared rule, csrc/cpu/layout.h
  plan.input = std::move(choice.tensor);
  plan.layout = choice.layout;
  plan.memory_format = choice.memory_format;
  plan.order = tf_order ? core::ChannelOrder::TF : core::ChannelOrder::Torch;
  try {
    plan.geometry = core::make_pixel_shuffle_geometry(x.size(0), c_in, x.size(2), x.size(3), scale);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, "falsr::", e.what());
  }
  return plan;
}

// Output tensor for a plan: [N, C/s^2, H*s, W*s], same dtype/device, plan's memory format.
inline at::Tensor empty_pixel_shuffle_output(const PixelShufflePlan& plan) {
  const auto& g = plan.geometry;
  return at::empty({g.n, g.c_out, g.h * g.s, g.w * g.s},
                   plan.input.options().memory_format(plan.memory_format));
}

// Checks a caller-provided output for pixel_shuffle.out: the plan's shape, dtype and
// device, dense in the plan's memory format (so the kernel can write it directly), and
// not overlapping the input. No resizing: a reused buffer must already be right.
inline void check_pixel_shuffle_out(const PixelShufflePlan& plan, const at::Tensor& out) {
  const auto& g = plan.geometry;
  const std::vector<int64_t> want{g.n, g.c_out, g.h * g.s, g.w * g.s};
  TORCH_CHECK(out.defined(), "falsr::pixel_shuffle.out: out is undefined");
  TORCH_CHECK(out.sizes() == at::IntArrayRef(want), "falsr::pixel_shuffle.out: out must have shape ",
              at::IntArrayRef(want), ", got ", out.sizes());
  TORCH_CHECK(out.scalar_type() == plan.input.scalar_type(),
              "falsr::pixel_shuffle.out: out must have the input's dtype ",
              plan.input.scalar_type(), ", got ", out.scalar_type());
  TORCH_CHECK(out.device() == plan.input.device(), "falsr::pixel_shuffle.out: out is on ",
              out.device(), " but x is on ", plan.input.device());
  TORCH_CHECK(out.is_contiguous(plan.memory_format), "falsr::pixel_shuffle.out: out must be ",
              plan.memory_format == at::MemoryFormat::ChannelsLast ? "channels_last" : "NCHW",
              "-contiguous like the input");
  const auto* o = static_cast<const char*>(out.const_data_ptr());
  const auto* i = static_cast<const char*>(plan.input.const_data_ptr());
  const auto ob = static_cast<int64_t>(out.nbytes());
  const auto ib = static_cast<int64_t>(plan.input.nbytes());
  TORCH_CHECK(o + ob <= i || i + ib <= o, "falsr::pixel_shuffle.out: out overlaps the input");
}

// The CPU implementations registered for falsr::pixel_shuffle and .out (csrc/torch/ops.cpp).
at::Tensor pixel_shuffle_cpu(const at::Tensor& x, int64_t scale, bool tf_order);
at::Tensor& pixel_shuffle_out_cpu(const at::Tensor& x, int64_t scale, bool tf_order,
                                  at::Tensor& out);

}  // namespace falsr
