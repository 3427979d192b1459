// torch CPU binding of falsr::pil_bicubic_upscale (csrc/core/pil_bicubic.h): Pillow's
// BICUBIC upscale by an integer factor of an HxWxC image, any channel count.
#include <algorithm>
#include <stdexcept>

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include "core/pil_bicubic.h"
#include "cpu/image_layout.h"

namespace falsr {

at::Tensor pil_bicubic_upscale_cpu(const at::Tensor& x_in, int64_t scale, bool clip_unit) {
  constexpr const char* kOp = "falsr::pil_bicubic_upscale";
  TORCH_CHECK_VALUE(x_in.device().is_cpu(), kOp, ": expected a CPU tensor, got ",
                    x_in.device());
  TORCH_CHECK_TYPE(x_in.scalar_type() == at::kByte || x_in.scalar_type() == at::kFloat, kOp,
                   ": expected uint8 (8-bit Pillow) or float32 (mode \"F\"), got ",
                   x_in.scalar_type());
  TORCH_CHECK_VALUE(x_in.dim() == 3, kOp, ": expected an HxWxC image, got shape ",
                    x_in.sizes());
  TORCH_CHECK_VALUE(x_in.numel() > 0, kOp, ": the image is empty (shape ", x_in.sizes(), ")");
  TORCH_CHECK_VALUE(scale >= 1, kOp, ": scale must be >= 1, got ", scale);
  const at::Tensor x = readable_image(x_in);
  const ImageStrides st = image_strides(x);
  const int64_t h = x.size(0), w = x.size(1), c = x.size(2);
  core::PilUpscale plan;
  try {
    plan = core::make_pil_upscale(h, w, c, scale, 0, 0, h * scale, w * scale);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, kOp, ": ", e.what());
  }
  at::Tensor out = at::empty({h * scale, w * scale, c}, x.options());
  const int64_t tasks = core::pil_upscale_num_tasks(plan);
  const int64_t grain =
      std::max<int64_t>(1, (int64_t{1} << 16) / (core::kPilRowsPerTask * w * scale * c));
  try {
    at::parallel_for(0, tasks, grain, [&](int64_t b, int64_t e) {
      if (x.scalar_type() == at::kByte) {
        core::pil_upscale_u8(plan, x.const_data_ptr<uint8_t>(), st.row, st.pixel,
                             out.mutable_data_ptr<uint8_t>(), b, e);
      } else {
        core::pil_upscale_f32(plan, x.const_data_ptr<float>(), st.row, st.pixel,
                              clip_unit, out.mutable_data_ptr<float>(), b, e);
      }
    });
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, kOp, ": ", e.what());
  }
  return out;
}

}  // namespace falsr

TORCH_LIBRARY_FRAGMENT(falsr, m) {
  // Pillow's Image.resize(BICUBIC) of an HxWxC image to (H*scale, W*scale): uint8 is
  // Pillow's 8-bit path bit for bit, float32 its mode "F" (clip_unit: clamp each of the
  // two passes to [0, 1]).
  m.def("pil_bicubic_upscale(Tensor x, int scale, bool clip_unit=False) -> Tensor");
}

TORCH_LIBRARY_IMPL(falsr, CPU, m) {
  m.impl("pil_bicubic_upscale", &falsr::pil_bicubic_upscale_cpu);
}
