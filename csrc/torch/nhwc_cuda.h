// Tensor -> cuda::DevPlane views for the CUDA NHWC ops (cell_conv, inverted_bottleneck):
// as cpu/nhwc.h, plus float16, and a check that every tensor is on the op's CUDA device.
// Included only by csrc/torch/*_cuda*.cpp (built with CUDA).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "cpu/nhwc.h"  // nhwc_pixel_stride, as_nhwc
#include "cuda/arith.h"

namespace falsr {

inline cuda::StorageType cuda_storage_type(const at::Tensor& t, const char* op, const char* what) {
  switch (t.scalar_type()) {
    case at::kFloat:
      return cuda::StorageType::F32;
    case at::kBFloat16:
      return cuda::StorageType::BF16;
    case at::kHalf:
      return cuda::StorageType::F16;
    default:
      TORCH_CHECK(false, op, what, " must be float32, bfloat16 or float16, got ",
                  t.scalar_type());
  }
}

// t must be a CUDA tensor on `device`.
inline void check_on_device(const at::Tensor& t, const c10::Device& device, const char* op,
                            const char* what) {
  TORCH_CHECK(t.is_cuda(), op, what, " is on ", t.device(), ", expected a CUDA tensor");
  TORCH_CHECK(t.device() == device, op, what, " is on ", t.device(), " but the op runs on ",
              device);
}

// `t` must already be NHWC in memory (see nhwc_pixel_stride).
inline cuda::DevPlane dev_plane(const at::Tensor& t, const char* op, const char* what) {
  const auto ps = nhwc_pixel_stride(t);
  TORCH_CHECK(ps.has_value(), op, what, " must be NHWC in memory (channels_last), got strides ",
              t.strides());
  return {t.const_data_ptr(), cuda_storage_type(t, op, what), t.size(1), *ps};
}

inline cuda::DevMutPlane dev_mut_plane(at::Tensor& t, const char* op, const char* what) {
  const auto ps = nhwc_pixel_stride(t);
  TORCH_CHECK(ps.has_value(), op, what,
              " must be NHWC in memory (channels_last, or a channel slice of a channels_last "
              "tensor), got strides ",
              t.strides());
  return {t.mutable_data_ptr(), cuda_storage_type(t, op, what), t.size(1), *ps};
}

// A weight or bias as contiguous float32 on `device` (float32 / bfloat16 / float16 in).
inline at::Tensor f32_param(const at::Tensor& t, const c10::Device& device, const char* op,
                            const char* what) {
  check_on_device(t, device, op, what);
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16 ||
                  t.scalar_type() == at::kHalf,
              op, what, " must be float32, bfloat16 or float16, got ", t.scalar_type());
  return t.to(at::kFloat).contiguous();
}

}  // namespace falsr
