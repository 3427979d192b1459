// Tensor -> core::Plane views for the NHWC ops (cell_conv, inverted_bottleneck): a 4-D
// CPU tensor [N, C, H, W] whose memory is NHWC, possibly a channel slice of a wider
// NHWC buffer (pixel stride > C), which is how the engine hands concat inputs in place.
#pragma once

#include <cstdint>
#include <optional>

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "core/activation.h"

namespace falsr {

// The pixel stride of t if its memory is NHWC (channels innermost, rows and images
// packed), else nullopt.
inline std::optional<int64_t> nhwc_pixel_stride(const at::Tensor& t) {
  if (t.dim() != 4) return std::nullopt;
  const int64_t n = t.size(0), c = t.size(1), h = t.size(2), w = t.size(3);
  if (t.is_contiguous(at::MemoryFormat::ChannelsLast)) return c;
  if (w < 2 || (c > 1 && t.stride(1) != 1)) return std::nullopt;
  const int64_t ps = t.stride(3);
  if (ps < c) return std::nullopt;
  if (h > 1 && t.stride(2) != w * ps) return std::nullopt;
  if (n > 1 && t.stride(0) != h * w * ps) return std::nullopt;
  return ps;
}

inline core::DType core_dtype(const at::Tensor& t, const char* op, const char* what) {
  if (t.scalar_type() == at::kFloat) return core::DType::F32;
  if (t.scalar_type() == at::kBFloat16) return core::DType::BF16;
  TORCH_CHECK(false, op, what, " must be float32 or bfloat16, got ", t.scalar_type());
}

// `t` must already be NHWC (see nhwc_pixel_stride).
inline core::Plane const_plane(const at::Tensor& t, const char* op, const char* what) {
  const auto ps = nhwc_pixel_stride(t);
  TORCH_CHECK(ps.has_value(), op, what, " must be NHWC in memory (channels_last), got strides ",
              t.strides());
  return {t.const_data_ptr(), core_dtype(t, op, what), t.size(1), *ps};
}

inline core::MutPlane mut_plane(at::Tensor& t, const char* op, const char* what) {
  const auto ps = nhwc_pixel_stride(t);
  TORCH_CHECK(ps.has_value(), op, what,
              " must be NHWC in memory (channels_last, or a channel slice of a channels_last "
              "tensor), got strides ",
              t.strides());
  return {t.mutable_data_ptr(), core_dtype(t, op, what), t.size(1), *ps};
}

// t itself when it is NHWC, else a channels_last copy (the functional ops accept any
// layout; out= tensors are never copied).
inline at::Tensor as_nhwc(const at::Tensor& t) {
  return nhwc_pixel_stride(t).has_value() ? t : t.contiguous(at::MemoryFormat::ChannelsLast);
}

}  // namespace falsr
