// torch CPU binding of the FALSR colour ops (csrc/core/colour.h): falsr::rgb_to_luma and
// falsr::compose_rgb. Schemas live here (TORCH_LIBRARY_FRAGMENT) next to their kernels.
// Images are HxWxC tensors (numpy's layout); channels must be contiguous within a pixel,
// other strides are read in place (an RGBA array's RGB needs no copy).
#include <algorithm>
#include <stdexcept>
#include <string>

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include "core/colour.h"
#include "cpu/image_layout.h"

namespace falsr {

namespace {

core::PixelType pixel_type(const at::Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case at::kByte:
      return core::PixelType::U8;
    case at::kUInt16:
      return core::PixelType::U16;
    case at::kFloat:
      return core::PixelType::F32;
    case at::kDouble:
      return core::PixelType::F64;
    default:
      TORCH_CHECK_TYPE(false, op, ": expected an image of dtype uint8, uint16, float32 or ",
                       "float64, got ", t.scalar_type());
  }
}

// HxWxC (C >= 3) on the CPU with unit channel stride; copies only when that is not so.
at::Tensor rgb_image(const at::Tensor& t, const char* op) {
  TORCH_CHECK_VALUE(t.device().is_cpu(), op, ": expected a CPU tensor, got ", t.device());
  TORCH_CHECK_VALUE(t.dim() == 3 && t.size(2) >= 3, op,
                    ": expected an HxWxC RGB image (C >= 3, channels last), got shape ",
                    t.sizes());
  TORCH_CHECK_VALUE(t.size(0) >= 1 && t.size(1) >= 1, op, ": the image is empty (shape ",
                    t.sizes(), ")");
  pixel_type(t, op);
  return readable_image(t);
}

// Units of work per thread so that each gets at least `min_pixels` output pixels: waking
// a second thread costs more than a small image's whole pass (luma runs at ~1 ns/px).
int64_t grain_for(int64_t min_pixels, int64_t pixels_per_unit) {
  return std::max<int64_t>(1, min_pixels / std::max<int64_t>(1, pixels_per_unit));
}

}  // namespace

at::Tensor rgb_to_luma_cpu(const at::Tensor& rgb_in) {
  constexpr const char* kOp = "falsr::rgb_to_luma";
  const at::Tensor rgb = rgb_image(rgb_in, kOp);
  const int64_t h = rgb.size(0), w = rgb.size(1);
  at::Tensor out = at::empty({h, w}, rgb.options().dtype(at::kFloat));
  const core::PixelType type = pixel_type(rgb, kOp);
  const void* src = rgb.const_data_ptr();
  float* dst = out.mutable_data_ptr<float>();
  const ImageStrides st = image_strides(rgb);
  try {
    at::parallel_for(0, h, grain_for(int64_t{1} << 20, w), [&](int64_t b, int64_t e) {
      core::rgb_to_luma(src, type, h, w, st.row, st.pixel, dst, b, e);
    });
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, "falsr::", e.what());
  }
  return out;
}

at::Tensor compose_rgb_cpu(const at::Tensor& y_in, const at::Tensor& lr_in, int64_t scale,
                           int64_t top, int64_t left) {
  constexpr const char* kOp = "falsr::compose_rgb";
  const at::Tensor lr = rgb_image(lr_in, kOp);
  TORCH_CHECK_VALUE(y_in.device().is_cpu(), kOp, ": expected a CPU luma tensor, got ",
                    y_in.device());
  TORCH_CHECK_TYPE(y_in.scalar_type() == at::kFloat, kOp, ": expected float32 luma, got ",
                   y_in.scalar_type());
  TORCH_CHECK_VALUE(y_in.dim() == 2, kOp, ": expected the luma as an HxW tensor, got shape ",
                    y_in.sizes());
  const int64_t out_h = y_in.size(0), out_w = y_in.size(1);
  const bool y_in_place = (y_in.stride(1) == 1 || out_w == 1) &&
                          (y_in.stride(0) >= out_w || out_h == 1);
  const at::Tensor y = y_in_place ? y_in : y_in.contiguous();
  const int64_t y_row_stride = out_h == 1 ? out_w : y.stride(0);
  const core::PixelType type = pixel_type(lr, kOp);
  core::ComposeRgb plan;
  try {
    plan = core::make_compose_rgb(type, lr.size(0), lr.size(1), scale, top, left, out_h, out_w);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, "falsr::compose_rgb: ", e.what());
  }
  at::Tensor out = at::empty({out_h, out_w, 3}, lr.options());
  const int64_t tasks = core::compose_rgb_num_tasks(plan);
  const float* yp = y.const_data_ptr<float>();
  const void* src = lr.const_data_ptr();
  void* dst = out.mutable_data_ptr();
  const ImageStrides st = image_strides(lr);
  try {
    at::parallel_for(0, tasks, grain_for(int64_t{1} << 16, core::kPilRowsPerTask * out_w),
                     [&](int64_t b, int64_t e) {
                       core::compose_rgb(plan, yp, y_row_stride, src, st.row, st.pixel, dst,
                                         b, e);
                     });
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, "falsr::compose_rgb: ", e.what());
  }
  return out;
}

}  // namespace falsr

TORCH_LIBRARY_FRAGMENT(falsr, m) {
  // Analog luma Y (skimage rgb2ypbpr) of an HxWxC (C >= 3) uint8/uint16/float image,
  // samples scaled to [0, 1]; HxW float32 (the FALSR network's input).
  m.def("rgb_to_luma(Tensor rgb) -> Tensor");
  // FALSR output colour: luma y [Ho, Wo] (float32) + chroma of the Pillow-bicubic x`scale`
  // upscale of lr (HxWxC, C >= 3), window at (top, left) -> [Ho, Wo, 3] of lr's dtype.
  m.def("compose_rgb(Tensor y, Tensor lr, int scale, int top=0, int left=0) -> Tensor");
}

TORCH_LIBRARY_IMPL(falsr, CPU, m) {
  m.impl("rgb_to_luma", &falsr::rgb_to_luma_cpu);
  m.impl("compose_rgb", &falsr::compose_rgb_cpu);
}
