// C++ tests of csrc/core/pil_bicubic (no torch): Pillow's tap formula on known values, and
// the row-blocked, windowed kernels against a naive two-pass resize written from Pillow's
// description, for uint8 and float32 (with and without clipping), every ISA level,
// random sizes, channel counts, scales 1..4 and windows; then the error cases.
// The naive reference must not fuse multiply-adds either (GCC's C++ default contracts them
// where the target has FMA, e.g. every aarch64), like core/pil_bicubic_rows.h.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/isa.h"
#include "core/pil_bicubic.h"
#include "core/tests/check.h"

namespace {

using falsr::core::PilTaps;

// Keys cubic, a = -0.5, evaluated in Pillow's Horner order: a textbook polynomial order
// rounds some weights differently in the last bit (visible at scale 3).
double cubic(double x) {
  x = std::fabs(x);
  if (x < 1) return (1.5 * x - 2.5) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * -0.5;
  return 0;
}

void test_known_taps() {
  // x2: output 2 has its centre at 1.25 input px; taps from int(1.25 - 2 + 0.5) = 0 (clamped)
  // to int(1.25 + 2 + 0.5) = 3 (exclusive).
  const PilTaps t = falsr::core::pil_bicubic_taps(10, 2, 0, 20);
  CHECK_EQ(t.ksize, 5);
  CHECK_EQ(t.start[2], 0);
  CHECK_EQ(t.count[2], 3);  // int(1.25 + 2.5) = 3 -> taps 0, 1, 2
  for (int64_t i = 0; i < 20; ++i) {
    double sum = 0;
    int64_t sum8 = 0;
    for (int64_t k = 0; k < t.count[i]; ++k) {
      sum += t.weight[i * t.ksize + k];
      sum8 += t.weight8[i * t.ksize + k];
    }
    CHECK(std::fabs(sum - 1.0) < 1e-12);
    CHECK(std::llabs(sum8 - (1 << 22)) <= 3);
  }
  // Interior sample 9: centre 4.75, taps 3..6 at distances 1.25, 0.25, -0.75, -1.75.
  CHECK_EQ(t.start[9], 3);
  CHECK_EQ(t.count[9], 4);
  const double want[4] = {cubic(1.25), cubic(0.25), cubic(0.75), cubic(1.75)};
  for (int k = 0; k < 4; ++k) {
    CHECK(std::fabs(t.weight[9 * t.ksize + k] - want[k]) < 1e-15);
  }
  // A window is the same taps as the full axis.
  const PilTaps win = falsr::core::pil_bicubic_taps(10, 2, 7, 5);
  for (int64_t i = 0; i < 5; ++i) {
    CHECK_EQ(win.start[i], t.start[7 + i]);
    CHECK(win.weight[i * 5 + 1] == t.weight[(7 + i) * 5 + 1]);
  }
}

// Naive Pillow: taps recomputed here from the formula; full image; then the window.
struct Axis {
  std::vector<int> start, count;
  std::vector<double> w;
  std::vector<int> w8;
};

Axis naive_axis(int n_in, int s) {
  Axis a;
  const int n = n_in * s;
  const double step = double(n_in) / n;
  for (int o = 0; o < n; ++o) {
    const double c = (o + 0.5) * step;
    const int lo = std::max(0, int(c - 2 + 0.5));
    const int hi = std::min(n_in, int(c + 2 + 0.5));
    std::vector<double> ws;
    double sum = 0;
    for (int i = lo; i < hi; ++i) {
      ws.push_back(cubic(i - c + 0.5));
      sum += ws.back();
    }
    a.start.push_back(lo);
    a.count.push_back(hi - lo);
    for (int k = 0; k < 5; ++k) {
      const double v = k < int(ws.size()) ? ws[k] / sum : 0.0;
      a.w.push_back(v);
      a.w8.push_back(int(v < 0 ? -0.5 + v * (1 << 22) : 0.5 + v * (1 << 22)));
    }
  }
  return a;
}

uint8_t clip8(int v) {
  v >>= 22;
  return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

template <class T>
std::vector<T> naive_upscale(const std::vector<T>& src, int h, int w, int c, int s, bool clip) {
  const Axis ax = naive_axis(w, s), ay = naive_axis(h, s);
  std::vector<T> mid(size_t(h) * w * s * c), out(size_t(h) * s * w * s * c);
  auto pass = [&](const std::vector<T>& in, std::vector<T>& o, const Axis& a, int lines,
                  int n_out, long line_step_in, long line_step_out, long tap_in, long tap_out) {
    for (int l = 0; l < lines; ++l) {
      for (int i = 0; i < n_out; ++i) {
        for (int ch = 0; ch < c; ++ch) {
          double acc = 0;
          int acc8 = 1 << 21;
          for (int k = 0; k < a.count[i]; ++k) {
            const T v = in[l * line_step_in + (a.start[i] + k) * tap_in + ch];
            acc += double(v) * a.w[i * 5 + k];
            acc8 += int(v) * a.w8[i * 5 + k];
          }
          T r;
          if constexpr (std::is_same_v<T, uint8_t>) {
            r = clip8(acc8);
          } else {
            r = float(acc);
            if (clip) r = r < 0 ? 0.f : r > 1 ? 1.f : r;
          }
          o[l * line_step_out + i * tap_out + ch] = r;
        }
      }
    }
  };
  const int ws = w * s;
  pass(src, mid, ax, h, ws, long(w) * c, long(ws) * c, c, c);        // rows: horizontal
  pass(mid, out, ay, ws, h * s, c, c, long(ws) * c, long(ws) * c);  // columns: vertical
  return out;
}

template <class T>
void check_upscale(std::mt19937& rng, const char* isa) {
  for (int trial = 0; trial < 12; ++trial) {
    const int h = 1 + rng() % 40, w = 1 + rng() % 40, c = 1 + rng() % 4, s = 1 + rng() % 4;
    const bool clip = rng() % 2;
    const int pad = rng() % 3;  // pixel stride c + pad
    const int ps = c + pad;
    std::vector<T> img(size_t(h) * w * ps), dense(size_t(h) * w * c);
    std::uniform_real_distribution<float> unit(-0.1f, 1.1f);  // overshoot: clipping matters
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int ch = 0; ch < ps; ++ch) {
          T v;
          if constexpr (std::is_same_v<T, uint8_t>) v = T(1 + rng() % 255);
          else v = unit(rng);
          img[(size_t(y) * w + x) * ps + ch] = v;
          if (ch < c) dense[(size_t(y) * w + x) * c + ch] = v;
        }
    const std::vector<T> want = naive_upscale(dense, h, w, c, s, clip);
    const int top = rng() % (h * s), left = rng() % (w * s);
    const int oh = 1 + rng() % (h * s - top), ow = 1 + rng() % (w * s - left);
    const auto p = falsr::core::make_pil_upscale(h, w, c, s, top, left, oh, ow);
    std::vector<T> got(size_t(oh) * ow * c);
    const int64_t tasks = falsr::core::pil_upscale_num_tasks(p);
    for (int64_t t = 0; t < tasks; ++t) {  // one task at a time: blocks are independent
      if constexpr (std::is_same_v<T, uint8_t>) {
        falsr::core::pil_upscale_u8(p, img.data(), long(w) * ps, ps, got.data(), t, t + 1);
      } else {
        falsr::core::pil_upscale_f32(p, img.data(), long(w) * ps, ps, clip, got.data(), t,
                                     t + 1);
      }
    }
    int bad = 0;
    for (int y = 0; y < oh; ++y)
      for (int x = 0; x < ow; ++x)
        for (int ch = 0; ch < c; ++ch) {
          const T a = got[(size_t(y) * ow + x) * c + ch];
          const T b = want[((size_t(top) + y) * w * s + left + x) * c + ch];
          bad += !(a == b);  // bit for bit
        }
    if (bad) std::fprintf(stderr, "%s %s: %d mismatches (h %d w %d c %d s %d)\n", isa, sizeof(T) == 1 ? "u8" : "f32", bad, h, w, c, s);
    CHECK_EQ(bad, 0);
  }
}

void test_errors() {
  CHECK_THROWS(falsr::core::make_pil_upscale(0, 4, 3, 2, 0, 0, 1, 1), "height");
  CHECK_THROWS(falsr::core::make_pil_upscale(4, 4, 3, 0, 0, 0, 1, 1), "scale");
  CHECK_THROWS(falsr::core::make_pil_upscale(4, 4, 3, 2, 7, 0, 2, 1), "exceeds");
  const auto p = falsr::core::make_pil_upscale(4, 4, 3, 2, 0, 0, 8, 8);
  std::vector<uint8_t> img(48), out(192);
  CHECK_THROWS(falsr::core::pil_upscale_u8(p, img.data(), 12, 2, out.data(), 0, 1), "strides");
  CHECK_THROWS(falsr::core::pil_upscale_u8(p, img.data(), 12, 3, out.data(), 0, 5), "task");
  CHECK_THROWS(falsr::core::pil_upscale_u8(p, nullptr, 12, 3, out.data(), 0, 1), "null");
}

}  // namespace

int main() {
  test_known_taps();
  test_errors();
  std::mt19937 rng(1234);
  for (const char* isa : {"generic", "avx2", "avx512"}) {
    setenv("FALSR_CPU_ISA", isa, 1);
    std::printf("isa %s (runs %s)\n", isa, falsr::core::isa_name(falsr::core::max_isa()));
    check_upscale<uint8_t>(rng, isa);
    check_upscale<float>(rng, isa);
  }
  return falsr::test::report("test_pil_bicubic");
}
