// The memory-format rule of every falsr CPU op (mirrored by the fake kernels in
// falsr_ext/ops.py): a channels_last input (and not also NCHW-contiguous) runs the NHWC
// kernel and gives a channels_last output; any other input is made contiguous and runs
// the NCHW kernel.
#pragma once

#include <ATen/core/Tensor.h>

#include "core/pixel_shuffle_index.h"  // core::Layout

namespace falsr {

struct LayoutChoice {
  at::Tensor tensor;  // x itself (channels_last) or x.contiguous()
  core::Layout layout;
  at::MemoryFormat memory_format;
};

inline bool uses_channels_last(const at::Tensor& x) {
  return !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

inline LayoutChoice choose_layout(const at::Tensor& x) {
  if (uses_channels_last(x)) {
    return {x, core::Layout::NHWC, at::MemoryFormat::ChannelsLast};
  }
  return {x.contiguous(), core::Layout::NCHW, at::MemoryFormat::Contiguous};
}

}  // namespace falsr
