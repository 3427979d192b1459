// Pillow-exact bicubic upscaling: taps, window validation and the per-ISA entry points.
// The row machinery is in pil_bicubic_rows.h (shared with the fused colour kernels).
#include "core/pil_bicubic_rows.h"  // first: sets fp-contract off for this file

#include "core/pil_bicubic.h"

#include <cmath>
#include <string>

#include "core/isa.h"
#include "core/shapes.h"

namespace falsr::core {

namespace {

// Pillow's bicubic_filter (a = -0.5), same expression so the same doubles come out.
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) {
    x = -x;
  }
  if (x < 1.0) {
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  }
  if (x < 2.0) {
    return (((x - 5) * x + 8) * x - 4) * a;
  }
  return 0.0;
}

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS

}  // namespace

PilTaps pil_bicubic_taps(int64_t in_size, int64_t scale, int64_t first, int64_t n) {
  check_positive(in_size, "pil_bicubic_taps: in_size");
  check_positive(scale, "pil_bicubic_taps: scale");
  check_non_negative(first, "pil_bicubic_taps: first");
  check_non_negative(n, "pil_bicubic_taps: n");
  const int64_t out_size = checked_mul(in_size, scale, "pil_bicubic_taps: output size");
  if (out_size > (int64_t{1} << 24) || first + n > out_size) {
    fail_invalid("pil_bicubic_taps: window [" + std::to_string(first) + ", " +
                 std::to_string(first + n) + ") outside the " + std::to_string(out_size) +
                 " upscaled samples (at most 2^24)");
  }
  // Pillow: scale = (in1 - in0) / outSize with float box edges; support = 2 (upscaling).
  const double step = static_cast<double>(static_cast<float>(in_size) - 0.0f) /
                      static_cast<double>(static_cast<int>(out_size));
  const double support = 2.0;
  PilTaps t;
  t.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.start.resize(n);
  t.count.resize(n);
  t.weight.assign(n * t.ksize, 0.0);
  t.weight8.assign(n * t.ksize, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int xx = static_cast<int>(first + i);
    const double center = 0.0 + (xx + 0.5) * step;
    int xmin = static_cast<int>(center - support + 0.5);
    xmin = xmin < 0 ? 0 : xmin;
    int xmax = static_cast<int>(center + support + 0.5);
    xmax = xmax > in_size ? static_cast<int>(in_size) : xmax;
    xmax -= xmin;
    double* k = &t.weight[i * t.ksize];
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = bicubic_filter((x + xmin - center + 0.5) * 1.0);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) {
        k[x] /= ww;
      }
      const double fixed = k[x] * (1 << kPrecisionBits);
      t.weight8[i * t.ksize + x] = static_cast<int32_t>(k[x] < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    t.start[i] = xmin;
    t.count[i] = xmax;
  }
  return t;
}

PilUpscale make_pil_upscale(int64_t h, int64_t w, int64_t c, int64_t scale, int64_t top,
                            int64_t left, int64_t out_h, int64_t out_w) {
  check_positive(h, "pil bicubic upscale: height");
  check_positive(w, "pil bicubic upscale: width");
  check_positive(c, "pil bicubic upscale: channels");
  check_positive(scale, "pil bicubic upscale: scale");
  check_non_negative(top, "pil bicubic upscale: top");
  check_non_negative(left, "pil bicubic upscale: left");
  check_positive(out_h, "pil bicubic upscale: output height");
  check_positive(out_w, "pil bicubic upscale: output width");
  const int64_t hs = checked_mul(h, scale, "pil bicubic upscale: height * scale");
  const int64_t ws = checked_mul(w, scale, "pil bicubic upscale: width * scale");
  if (top + out_h > hs || left + out_w > ws) {
    fail_invalid("pil bicubic upscale: window of " + std::to_string(out_h) + "x" +
                 std::to_string(out_w) + " at (" + std::to_string(top) + ", " +
                 std::to_string(left) + ") exceeds the " + std::to_string(hs) + "x" +
                 std::to_string(ws) + " upscaled image");
  }
  PilUpscale p;
  p.h = h;
  p.w = w;
  p.c = c;
  p.scale = scale;
  p.top = top;
  p.left = left;
  p.out_h = out_h;
  p.out_w = out_w;
  p.rows = pil_bicubic_taps(h, scale, top, out_h);
  p.cols = pil_bicubic_taps(w, scale, left, out_w);
  return p;
}

int64_t pil_upscale_num_tasks(const PilUpscale& p) {
  return (p.out_h + kPilRowsPerTask - 1) / kPilRowsPerTask;
}

namespace {

template <class T>
struct InterleaveStore {
  T* dst;
  int64_t out_w, c;
  // Planar rows of one output row -> interleaved HxWxC.
  FALSR_PIL_INLINE void operator()(int64_t row, const T* planes) const {
    T* out = dst + row * out_w * c;
    for (int64_t ch = 0; ch < c; ++ch) {
      const T* plane = planes + ch * out_w;
      for (int64_t x = 0; x < out_w; ++x) {
        out[x * c + ch] = plane[x];
      }
    }
  }
};

template <class T>
FALSR_PIL_INLINE void upscale_tasks(const PilUpscale& p, const T* src, int64_t row_stride,
                                     int64_t pixel_stride, bool clip_unit, T* dst,
                                     int64_t begin, int64_t end) {
  const auto load = [=](int64_t y, int64_t x, int64_t ch) {
    return src[y * row_stride + x * pixel_stride + ch];
  };
  pil_rows<T>(p, load, clip_unit, InterleaveStore<T>{dst, p.out_w, p.c}, begin, end);
}

template <class T>
void upscale_generic(const PilUpscale& p, const T* src, int64_t rs, int64_t ps, bool clip,
                     T* dst, int64_t b, int64_t e) {
  upscale_tasks<T>(p, src, rs, ps, clip, dst, b, e);
}

template <class T>
FALSR_PIL_AVX2 void upscale_avx2(const PilUpscale& p, const T* src, int64_t rs, int64_t ps,
                                 bool clip, T* dst, int64_t b, int64_t e) {
  upscale_tasks<T>(p, src, rs, ps, clip, dst, b, e);
}

template <class T>
FALSR_PIL_AVX512 void upscale_avx512(const PilUpscale& p, const T* src, int64_t rs,
                                     int64_t ps, bool clip, T* dst, int64_t b, int64_t e) {
  upscale_tasks<T>(p, src, rs, ps, clip, dst, b, e);
}

template <class T>
void upscale_dispatch(const PilUpscale& p, const T* src, int64_t row_stride,
                      int64_t pixel_stride, bool clip_unit, T* dst, int64_t begin,
                      int64_t end) {
  check_pointer(src, p.h * p.w, "pil bicubic upscale: src");
  check_pointer(dst, p.out_h * p.out_w, "pil bicubic upscale: dst");
  if (pixel_stride < p.c || row_stride < (p.w - 1) * pixel_stride + p.c) {
    fail_invalid("pil bicubic upscale: strides (row " + std::to_string(row_stride) +
                 ", pixel " + std::to_string(pixel_stride) + ") overlap " +
                 std::to_string(p.c) + "-channel pixels");
  }
  if (begin < 0 || end > pil_upscale_num_tasks(p) || begin > end) {
    fail_invalid("pil bicubic upscale: task range [" + std::to_string(begin) + ", " +
                 std::to_string(end) + ") out of bounds");
  }
  const Isa isa = max_isa();
  if (isa >= Isa::Avx512) {
    upscale_avx512<T>(p, src, row_stride, pixel_stride, clip_unit, dst, begin, end);
  } else if (isa >= Isa::Avx2) {
    upscale_avx2<T>(p, src, row_stride, pixel_stride, clip_unit, dst, begin, end);
  } else {
    upscale_generic<T>(p, src, row_stride, pixel_stride, clip_unit, dst, begin, end);
  }
}

}  // namespace

void pil_upscale_u8(const PilUpscale& p, const uint8_t* src, int64_t row_stride,
                    int64_t pixel_stride, uint8_t* dst, int64_t task_begin, int64_t task_end) {
  upscale_dispatch<uint8_t>(p, src, row_stride, pixel_stride, false, dst, task_begin,
                            task_end);
}

void pil_upscale_f32(const PilUpscale& p, const float* src, int64_t row_stride,
                     int64_t pixel_stride, bool clip_unit, float* dst, int64_t task_begin,
                     int64_t task_end) {
  upscale_dispatch<float>(p, src, row_stride, pixel_stride, clip_unit, dst, task_begin,
                          task_end);
}

}  // namespace falsr::core
