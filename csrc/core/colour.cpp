// FALSR colour conversions: luma for the network, fused chroma upscale + recomposition.
#include "core/pil_bicubic_rows.h"  // first: sets fp-contract off for this file

#include "core/colour.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/isa.h"
#include "core/shapes.h"

namespace falsr::core {

namespace {

// skimage.color's ypbpr_from_rgb and numpy.linalg.inv of it (repr-exact doubles), as
// falsr_ext/data/colour.py uses them.
constexpr double kYr = 0.299, kYg = 0.587, kYb = 0.114;
constexpr double kPbR = -0.168736, kPbG = -0.331264, kPbB = 0.5;
constexpr double kPrR = 0.5, kPrG = -0.418688, kPrB = -0.081312;
constexpr double kInv[3][3] = {
    {0.9999999999999999, -1.2188941886790896e-06, 1.4019995886573404},
    {0.9999999999999999, -0.34413567816533663, -0.7141361555818124},
    {0.9999999999999998, 1.7720000660738162, 4.0629806304661396e-07},
};

template <class In>
FALSR_PIL_INLINE double unit(In v) {
  if constexpr (std::is_same_v<In, uint8_t>) {
    return static_cast<double>(v) / 255.0;
  } else if constexpr (std::is_same_v<In, uint16_t>) {
    return static_cast<double>(v) / 65535.0;
  } else {
    return static_cast<double>(v);
  }
}

// The chroma resample's input sample: uint8 as is, others float32 in [0, 1].
template <class In>
FALSR_PIL_INLINE auto resample_sample(In v) {
  if constexpr (std::is_same_v<In, uint8_t>) {
    return v;
  } else {
    return static_cast<float>(unit(v));
  }
}

template <class In>
FALSR_PIL_INLINE void luma_rows(const In* src, int64_t w, int64_t rs, int64_t ps, float* dst,
                                int64_t begin, int64_t end) {
  for (int64_t y = begin; y < end; ++y) {
    const In* row = src + y * rs;
    float* out = dst + y * w;
    for (int64_t x = 0; x < w; ++x) {
      const In* px = row + x * ps;
      out[x] = static_cast<float>(unit(px[0]) * kYr + unit(px[1]) * kYg + unit(px[2]) * kYb);
    }
  }
}

// One output row from its luma and the upscaled chroma planes (see colour.h).
template <class In>
struct ComposeRow {
  const float* y;
  int64_t y_row_stride, w;
  In* dst;

  template <class T>
  FALSR_PIL_INLINE void operator()(int64_t row, const T* planes) const {
    const float* yr = y + row * y_row_stride;
    const T* pr_r = planes;
    const T* pr_g = planes + w;
    const T* pr_b = planes + 2 * w;
    In* out = dst + row * w * 3;
    for (int64_t x = 0; x < w; ++x) {
      // Divisions, not lookups: gathers from a (v / 255) * k table measured slower.
      const double r = unit(pr_r[x]), g = unit(pr_g[x]), b = unit(pr_b[x]);
      const double pb = r * kPbR + g * kPbG + b * kPbB;
      const double pr = r * kPrR + g * kPrG + b * kPrB;
      if constexpr (std::is_same_v<In, uint8_t>) {
        const double yf = 255.0 * static_cast<double>(yr[x]);
        const double cb = 255.0 * (pb + 0.5) - 128.0;
        const double cr = 255.0 * (pr + 0.5) - 128.0;
        const double rgb[3] = {yf + 1.402 * cr, yf - 0.34414 * cb - 0.71414 * cr,
                               yf + 1.772 * cb};
        for (int ch = 0; ch < 3; ++ch) {
          const double v = rgb[ch] > 0.0 ? (rgb[ch] < 255.0 ? rgb[ch] : 255.0) : 0.0;
          out[3 * x + ch] = static_cast<uint8_t>(v);  // truncation, as the official script
        }
      } else {
        const double yy = static_cast<double>(yr[x]);
        for (int ch = 0; ch < 3; ++ch) {
          const double v = yy * kInv[ch][0] + pb * kInv[ch][1] + pr * kInv[ch][2];
          // min / max (not ?:) so the loop vectorises; NaN stays NaN, as in np.clip.
          if constexpr (std::is_same_v<In, uint16_t>) {
            const double q = std::rint(v * 65535.0);  // half to even, as np.round
            out[3 * x + ch] = static_cast<uint16_t>(std::min(std::max(q, 0.0), 65535.0));
          } else {
            out[3 * x + ch] = static_cast<In>(std::min(std::max(v, 0.0), 1.0));
          }
        }
      }
    }
  }
};

template <class In>
FALSR_PIL_INLINE void compose_tasks(const ComposeRgb& plan, const float* y, int64_t ys,
                                    const void* lr, int64_t rs, int64_t ps, void* dst,
                                    int64_t begin, int64_t end) {
  const In* src = static_cast<const In*>(lr);
  const auto load = [=](int64_t yy, int64_t x, int64_t ch) {
    return resample_sample(src[yy * rs + x * ps + ch]);
  };
  using T = decltype(resample_sample(In{}));
  const ComposeRow<In> emit{y, ys, plan.up.out_w, static_cast<In*>(dst)};
  pil_rows<T>(plan.up, load, /*clip_unit=*/true, emit, begin, end);
}

// Per-ISA instances of both kernels (the bodies above are inlined and vectorised for
// each target).
template <class In>
void luma_generic(const In* s, int64_t w, int64_t rs, int64_t ps, float* d, int64_t b,
                  int64_t e) {
  luma_rows(s, w, rs, ps, d, b, e);
}
template <class In>
FALSR_PIL_AVX2 void luma_avx2(const In* s, int64_t w, int64_t rs, int64_t ps, float* d,
                              int64_t b, int64_t e) {
  luma_rows(s, w, rs, ps, d, b, e);
}
template <class In>
FALSR_PIL_AVX512 void luma_avx512(const In* s, int64_t w, int64_t rs, int64_t ps, float* d,
                                  int64_t b, int64_t e) {
  luma_rows(s, w, rs, ps, d, b, e);
}

template <class In>
void compose_generic(const ComposeRgb& p, const float* y, int64_t ys, const void* lr,
                     int64_t rs, int64_t ps, void* d, int64_t b, int64_t e) {
  compose_tasks<In>(p, y, ys, lr, rs, ps, d, b, e);
}
template <class In>
FALSR_PIL_AVX2 void compose_avx2(const ComposeRgb& p, const float* y, int64_t ys,
                                 const void* lr, int64_t rs, int64_t ps, void* d, int64_t b,
                                 int64_t e) {
  compose_tasks<In>(p, y, ys, lr, rs, ps, d, b, e);
}
template <class In>
FALSR_PIL_AVX512 void compose_avx512(const ComposeRgb& p, const float* y, int64_t ys,
                                     const void* lr, int64_t rs, int64_t ps, void* d,
                                     int64_t b, int64_t e) {
  compose_tasks<In>(p, y, ys, lr, rs, ps, d, b, e);
}

template <class In>
void luma_dispatch(const void* src, int64_t w, int64_t rs, int64_t ps, float* dst,
                   int64_t b, int64_t e) {
  const In* s = static_cast<const In*>(src);
  const Isa isa = max_isa();
  if (isa >= Isa::Avx512) {
    luma_avx512(s, w, rs, ps, dst, b, e);
  } else if (isa >= Isa::Avx2) {
    luma_avx2(s, w, rs, ps, dst, b, e);
  } else {
    luma_generic(s, w, rs, ps, dst, b, e);
  }
}

template <class In>
void compose_dispatch(const ComposeRgb& p, const float* y, int64_t ys, const void* lr,
                      int64_t rs, int64_t ps, void* d, int64_t b, int64_t e) {
  const Isa isa = max_isa();
  if (isa >= Isa::Avx512) {
    compose_avx512<In>(p, y, ys, lr, rs, ps, d, b, e);
  } else if (isa >= Isa::Avx2) {
    compose_avx2<In>(p, y, ys, lr, rs, ps, d, b, e);
  } else {
    compose_generic<In>(p, y, ys, lr, rs, ps, d, b, e);
  }
}

void check_rgb_strides(int64_t w, int64_t row_stride, int64_t pixel_stride, const char* what) {
  if (pixel_stride < 3 || row_stride < (w - 1) * pixel_stride + 3) {
    fail_invalid(std::string(what) + ": strides (row " + std::to_string(row_stride) +
                 ", pixel " + std::to_string(pixel_stride) +
                 ") do not hold 3-channel pixels without overlap");
  }
}

}  // namespace

void rgb_to_luma(const void* src, PixelType type, int64_t h, int64_t w, int64_t row_stride,
                 int64_t pixel_stride, float* dst, int64_t row_begin, int64_t row_end) {
  check_non_negative(h, "rgb_to_luma: height");
  check_non_negative(w, "rgb_to_luma: width");
  check_pointer(src, h * w, "rgb_to_luma: src");
  check_pointer(dst, h * w, "rgb_to_luma: dst");
  check_rgb_strides(w, row_stride, pixel_stride, "rgb_to_luma");
  if (row_begin < 0 || row_end > h || row_begin > row_end) {
    fail_invalid("rgb_to_luma: rows [" + std::to_string(row_begin) + ", " +
                 std::to_string(row_end) + ") outside [0, " + std::to_string(h) + ")");
  }
  switch (type) {
    case PixelType::U8:
      return luma_dispatch<uint8_t>(src, w, row_stride, pixel_stride, dst, row_begin, row_end);
    case PixelType::U16:
      return luma_dispatch<uint16_t>(src, w, row_stride, pixel_stride, dst, row_begin, row_end);
    case PixelType::F32:
      return luma_dispatch<float>(src, w, row_stride, pixel_stride, dst, row_begin, row_end);
    case PixelType::F64:
      return luma_dispatch<double>(src, w, row_stride, pixel_stride, dst, row_begin, row_end);
  }
  fail_invalid("rgb_to_luma: unknown pixel type");
}

ComposeRgb make_compose_rgb(PixelType type, int64_t h, int64_t w, int64_t scale, int64_t top,
                            int64_t left, int64_t out_h, int64_t out_w) {
  ComposeRgb plan;
  plan.type = type;
  plan.up = make_pil_upscale(h, w, 3, scale, top, left, out_h, out_w);
  return plan;
}

int64_t compose_rgb_num_tasks(const ComposeRgb& plan) { return pil_upscale_num_tasks(plan.up); }

void compose_rgb(const ComposeRgb& plan, const float* y, int64_t y_row_stride, const void* lr,
                 int64_t row_stride, int64_t pixel_stride, void* dst, int64_t task_begin,
                 int64_t task_end) {
  const PilUpscale& p = plan.up;
  check_pointer(y, p.out_h * p.out_w, "compose_rgb: y");
  check_pointer(lr, p.h * p.w, "compose_rgb: lr");
  check_pointer(dst, p.out_h * p.out_w, "compose_rgb: dst");
  check_rgb_strides(p.w, row_stride, pixel_stride, "compose_rgb");
  if (y_row_stride < p.out_w) {
    fail_invalid("compose_rgb: luma row stride " + std::to_string(y_row_stride) +
                 " is below the width " + std::to_string(p.out_w));
  }
  if (task_begin < 0 || task_end > compose_rgb_num_tasks(plan) || task_begin > task_end) {
    fail_invalid("compose_rgb: task range out of bounds");
  }
  const auto args = [&](auto tag) {
    using In = decltype(tag);
    compose_dispatch<In>(plan, y, y_row_stride, lr, row_stride, pixel_stride, dst, task_begin,
                         task_end);
  };
  switch (plan.type) {
    case PixelType::U8:
      return args(uint8_t{});
    case PixelType::U16:
      return args(uint16_t{});
    case PixelType::F32:
      return args(float{});
    case PixelType::F64:
      return args(double{});
  }
  fail_invalid("compose_rgb: unknown pixel type");
}

}  // namespace falsr::core
