// C++ tests of csrc/core/inverted_bottleneck (no torch): the fused block against
// inverted_bottleneck_naive (double accumulation) for every ISA path (FALSR_CPU_ISA
// forced via setenv), random shapes (sizes 1 upwards, filters not multiples of 16,
// k = 1 and 3, default and small random tilings), fp32 / bf16 planes in any mix, strided planes,
// extra residual, null biases, task-range splitting, and the argument errors.
// The naive reference itself is checked against a direct hand computation on a 1x1 image.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/inverted_bottleneck.h"
#include "core/tests/check.h"

namespace {

using falsr::core::DType;
using falsr::core::InvertedBottleneckArgs;
using falsr::core::Isa;
using falsr::core::MutPlane;
using falsr::core::Plane;

std::vector<float> random_vec(size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& e : v) e = d(rng);
  return v;
}

// A strided NHWC plane holding `channels` of `stride`, stored as fp32 or bf16; the
// channels beyond the plane hold a sentinel (exact in bf16) that must survive.
struct Buffer {
  DType dtype;
  int64_t channels, stride, pixels, offset;
  std::vector<float> f32;
  std::vector<uint16_t> b16;
  Buffer(DType d, int64_t c, int64_t s, int64_t px, int64_t off)
      : dtype(d), channels(c), stride(s), pixels(px), offset(off) {
    const size_t n = static_cast<size_t>(px * s + off);
    if (d == DType::F32) {
      f32.assign(n, 1232.0f);
    } else {
      b16.assign(n, falsr::core::float_to_bf16(1232.0f));
    }
  }
  void* base() {
    return dtype == DType::F32 ? static_cast<void*>(f32.data() + offset)
                               : static_cast<void*>(b16.data() + offset);
  }
  float get(int64_t p, int64_t c) const {
    const size_t i = static_cast<size_t>(offset + p * stride + c);
    return dtype == DType::F32 ? f32[i] : falsr::core::bf16_to_float(b16[i]);
  }
  void set(int64_t p, int64_t c, float v) {
    const size_t i = static_cast<size_t>(offset + p * stride + c);
    if (dtype == DType::F32) f32[i] = v; else b16[i] = falsr::core::float_to_bf16(v);
  }
  Plane plane() { return {base(), dtype, channels, stride}; }
  MutPlane mut() { return {base(), dtype, channels, stride}; }
};

// FALSR's expansion is 2; odd expansions exercise the channel padding of the wide maps.
struct Weights {
  std::vector<float> ew, eb, dw, db, pw, pb;
  int64_t wide;
  Weights(int64_t f, int64_t k, std::mt19937& rng, int64_t expansion = 2) : wide(expansion * f) {
    // Scales keep h1 / h2 / out O(1); biases centred below zero so ReLU clips some.
    const float se = 1.5f / std::sqrt(float(f * k * k)), sp = 1.5f / std::sqrt(float(wide * k * k));
    ew = random_vec(wide * f * k * k, rng, -se, se);
    eb = random_vec(wide, rng, -0.3f, 0.2f);
    dw = random_vec(wide * 9, rng, -0.5f, 0.5f);
    db = random_vec(wide, rng, -0.3f, 0.2f);
    pw = random_vec(f * wide * k * k, rng, -sp, sp);
    pb = random_vec(f, rng, -0.5f, 0.5f);
  }
  void attach(InvertedBottleneckArgs& a, bool biases) const {
    a.wide = wide;
    a.expand_w = ew.data();
    a.dw_w = dw.data();
    a.project_w = pw.data();
    a.expand_b = biases ? eb.data() : nullptr;
    a.dw_b = biases ? db.data() : nullptr;
    a.project_b = biases ? pb.data() : nullptr;
  }
};

int g_cases = 0;

// One random case on the current ISA: fused vs naive, and the sentinel channels intact.
void run_case(std::mt19937& rng, const std::string& isa) {
  std::uniform_int_distribution<int> coin(0, 1);
  const int64_t N = 1 + rng() % 2;
  const int64_t H = 1 + rng() % (coin(rng) ? 7 : 70);
  const int64_t W = 1 + rng() % (coin(rng) ? 7 : 150);
  static const int64_t filters[] = {1, 3, 5, 8, 16, 17, 32, 48};
  const int64_t f = filters[rng() % 8];
  const int64_t k = coin(rng) ? 3 : 1;
  const bool biases = rng() % 4 != 0, extra = coin(rng);
  const DType xt = coin(rng) ? DType::F32 : DType::BF16;
  const DType ot = coin(rng) ? DType::F32 : DType::BF16;
  const DType et = coin(rng) ? DType::F32 : DType::BF16;
  const int64_t px = N * H * W;
  Buffer x(xt, f, f + (coin(rng) ? 0 : 1 + rng() % 5), px, rng() % 3);
  Buffer e(et, f, f + (coin(rng) ? 0 : 3), px, 0);
  Buffer out(ot, f, f + (coin(rng) ? 0 : 2), px, 1), ref(ot, f, f, px, 0);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  for (int64_t p = 0; p < px; ++p)
    for (int64_t c = 0; c < f; ++c) {
      x.set(p, c, val(rng));
      e.set(p, c, val(rng));
    }
  Weights w(f, k, rng, 1 + static_cast<int64_t>(rng() % 3));
  InvertedBottleneckArgs a;
  a.batch = N, a.height = H, a.width = W, a.filters = f, a.kernel = k;
  a.x = x.plane();
  w.attach(a, biases);
  a.has_extra_residual = extra;
  a.extra_residual = e.plane();
  a.out = out.mut();
  // Small random tiles half the time: many bands and tiles, tiles narrower than the halo.
  falsr::core::InvertedBottleneckTiling tiling;
  if (coin(rng)) {
    tiling.band_rows = 1 + rng() % 12;
    tiling.tile_cols = 1 + rng() % 40;
  }
  auto plan = falsr::core::make_inverted_bottleneck_plan(a, tiling);
  CHECK(plan->path() == isa + "/fused");
  if (tiling.band_rows > 0) {
    const int64_t bands = (H + tiling.band_rows - 1) / tiling.band_rows;
    const int64_t tiles = (W + tiling.tile_cols - 1) / tiling.tile_cols;
    CHECK_EQ(plan->num_tasks(), N * bands * tiles);
  }
  // Split the tasks at a random point: ranges must compose.
  const int64_t T = plan->num_tasks(), split = T > 1 ? int64_t(rng() % T) : 0;
  plan->run_tasks(a, 0, split);
  plan->run_tasks(a, split, T);

  // Reference, and the error scale: the same block on |x|, |w|, |b| bounds sum |terms|.
  InvertedBottleneckArgs r = a;
  r.out = ref.mut();
  falsr::core::inverted_bottleneck_naive(r);
  Buffer xa(DType::F32, f, f, px, 0), ea(DType::F32, f, f, px, 0), scale(DType::F32, f, f, px, 0);
  for (int64_t p = 0; p < px; ++p)
    for (int64_t c = 0; c < f; ++c) {
      xa.set(p, c, std::fabs(x.get(p, c)));
      ea.set(p, c, std::fabs(e.get(p, c)));
    }
  Weights wa = w;
  for (auto* v : {&wa.ew, &wa.eb, &wa.dw, &wa.db, &wa.pw, &wa.pb})
    for (auto& z : *v) z = std::fabs(z);
  InvertedBottleneckArgs s = a;
  s.x = xa.plane();
  s.extra_residual = ea.plane();
  s.out = scale.mut();
  wa.attach(s, biases);
  falsr::core::inverted_bottleneck_naive(s);

  const double rtol = ot == DType::F32 ? 0.0 : 1.0 / 128;  // bf16 output: one rounding
  int bad = 0;
  for (int64_t p = 0; p < px; ++p) {
    for (int64_t c = 0; c < out.stride; ++c) {
      if (c >= f) {  // channels outside the plane are untouched
        if (out.get(p, c) != 1232.0f) ++bad;
        continue;
      }
      const double got = out.get(p, c), want = ref.get(p, c);
      const double tol = 2e-5 * scale.get(p, c) + rtol * std::fabs(want) + 1e-6;
      if (!(std::fabs(got - want) <= tol)) {
        if (bad < 5) {
          std::fprintf(stderr, "%s N%lld H%lld W%lld f%lld k%lld: p%lld c%lld got %g want %g\n",
                       isa.c_str(), (long long)N, (long long)H, (long long)W, (long long)f,
                       (long long)k, (long long)p, (long long)c, got, want);
        }
        ++bad;
      }
    }
  }
  CHECK_EQ(bad, 0);
  ++g_cases;
}

// The naive reference on a 1x1 image, k = 3 (only the centre taps count), by hand.
void test_naive_by_hand() {
  const int64_t f = 2, wide = 12;
  std::mt19937 rng(7);
  Weights w(f, 3, rng, 6);
  const float xv[2] = {0.7f, -0.4f};
  float out[2] = {0, 0};
  InvertedBottleneckArgs a;
  a.batch = a.height = a.width = 1;
  a.filters = f;
  a.kernel = 3;
  a.x = {xv, DType::F32, f, f};
  a.out = {out, DType::F32, f, f};
  w.attach(a, true);
  falsr::core::inverted_bottleneck_naive(a);
  for (int64_t c = 0; c < f; ++c) {
    double s = w.pb[c] + xv[c];
    for (int64_t o = 0; o < wide; ++o) {
      double h1 = w.eb[o];
      for (int64_t i = 0; i < f; ++i) h1 += double(w.ew[(o * f + i) * 9 + 4]) * xv[i];
      h1 = std::max(h1, 0.0);
      const double h2 = std::max(w.db[o] + double(w.dw[o * 9 + 4]) * h1, 0.0);
      s += double(w.pw[(c * wide + o) * 9 + 4]) * h2;
    }
    CHECK(std::fabs(out[c] - s) <= 1e-6 * (1 + std::fabs(s)));
  }
}

void test_errors() {
  std::mt19937 rng(3);
  const int64_t f = 4;
  Weights w(f, 3, rng);
  std::vector<float> x(4 * 4 * f, 0.5f), o(4 * 4 * f), e(4 * 4 * f, 0.25f);
  auto good = [&] {
    InvertedBottleneckArgs a;
    a.batch = 1, a.height = 4, a.width = 4, a.filters = f, a.kernel = 3;
    a.x = {x.data(), DType::F32, f, f};
    a.out = {o.data(), DType::F32, f, f};
    a.has_extra_residual = true;
    a.extra_residual = {e.data(), DType::F32, f, f};
    w.attach(a, true);
    return a;
  };
  auto make = [](const InvertedBottleneckArgs& a) {
    falsr::core::make_inverted_bottleneck_plan(a);
  };
  auto naive = [](const InvertedBottleneckArgs& a) { falsr::core::inverted_bottleneck_naive(a); };
  make(good());  // the baseline is valid
  InvertedBottleneckArgs a;
  a = good(); a.batch = 0; CHECK_THROWS(make(a), "batch");
  a = good(); a.height = 0; CHECK_THROWS(make(a), "height");
  a = good(); a.width = -1; CHECK_THROWS(make(a), "width");
  a = good(); a.filters = 0; CHECK_THROWS(make(a), "filters");
  a = good(); a.kernel = 5; CHECK_THROWS(make(a), "kernel must be 1 or 3");
  a = good(); a.kernel = 2; CHECK_THROWS(naive(a), "kernel must be 1 or 3");
  a = good(); a.x.data = nullptr; CHECK_THROWS(make(a), "x is a null pointer");
  a = good(); a.out.data = nullptr; CHECK_THROWS(make(a), "out is a null pointer");
  a = good(); a.extra_residual.data = nullptr;
  CHECK_THROWS(make(a), "extra_residual is a null pointer");
  a = good(); a.expand_w = nullptr; CHECK_THROWS(make(a), "expand_w is a null pointer");
  a = good(); a.dw_w = nullptr; CHECK_THROWS(make(a), "dw_w is a null pointer");
  a = good(); a.project_w = nullptr; CHECK_THROWS(make(a), "project_w is a null pointer");
  a = good(); a.x.channels = 3; CHECK_THROWS(make(a), "x has 3 channels, expected filters = 4");
  a = good(); a.out.channels = 5; CHECK_THROWS(make(a), "out has 5 channels");
  a = good(); a.extra_residual.channels = 8; CHECK_THROWS(make(a), "extra_residual has 8 channels");
  a = good(); a.x.pixel_stride = 3; CHECK_THROWS(make(a), "x pixel_stride 3 is smaller");
  a = good(); a.out.dtype = static_cast<DType>(7); CHECK_THROWS(make(a), "out dtype");
  a = good(); a.out.data = x.data() + 8; CHECK_THROWS(make(a), "out overlaps x");
  a = good(); a.out.data = e.data(); CHECK_THROWS(make(a), "out overlaps extra_residual");
  a = good(); a.out.data = x.data(); a.out.dtype = DType::BF16;
  CHECK_THROWS(make(a), "out overlaps x");
  // No extra residual: its (garbage) plane is not looked at.
  a = good(); a.has_extra_residual = false; a.extra_residual = {}; make(a);
  // Disjoint channel slices of one NHWC buffer are fine; overlapping slices are not.
  std::vector<float> both(4 * 4 * 2 * f);
  a = good();
  a.x = {both.data(), DType::F32, f, 2 * f};
  a.out = {both.data() + f, DType::F32, f, 2 * f};
  make(a);
  a.out = {both.data() + f - 1, DType::F32, f, 2 * f};
  CHECK_THROWS(make(a), "out overlaps x");
  a = good();
  CHECK_THROWS(falsr::core::make_inverted_bottleneck_plan(a, {-1, 0}), "tiling.band_rows");
  CHECK_THROWS(falsr::core::make_inverted_bottleneck_plan(a, {0, -2}), "tiling.tile_cols");
  a = good(); setenv("FALSR_CPU_ISA", "sse9", 1); CHECK_THROWS(make(a), "FALSR_CPU_ISA");
  unsetenv("FALSR_CPU_ISA");
}

}  // namespace

int main() {
  test_naive_by_hand();
  test_errors();
  std::vector<std::string> isas = {"generic"};
  const Isa cpu = falsr::core::cpu_isa();
  if (cpu >= Isa::Avx2) isas.push_back("avx2");
  if (cpu >= Isa::Avx512) isas.push_back("avx512");
  else std::printf("note: this CPU lacks AVX-512; that path is not tested here\n");
  std::mt19937 rng(20261123);
  for (const auto& isa : isas) {
    setenv("FALSR_CPU_ISA", isa.c_str(), 1);
    for (int i = 0; i < 40; ++i) run_case(rng, isa);
  }
  unsetenv("FALSR_CPU_ISA");
  std::printf("%d random cases on %zu paths\n", g_cases, isas.size());
  return falsr::test::report("test_inverted_bottleneck");
}
