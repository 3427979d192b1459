// C++ tests of the small-groups cell_conv path (cell_conv_grouped.cpp) against the double-
// accumulating cell_conv_naive, at every instruction-set level this CPU has (FALSR_CPU_ISA
// = generic, avx2, avx512, avx512_bf16): random shapes (G 2/4/8/16, cin_g and cout_g from
// 1, so blocks with padding lanes and several blocks; 1-3 planes of fp32 / bf16, channel
// slices with pixel_stride > channels, widths and heights from 1), k 1/3, ReLU, bias,
// fp32 / bf16 residual and output; fp32 FMAs to 1e-5 and bf16 dot products (weights
// rounded to bf16) to 5e-3 of the sum of |terms|; task-range splitting; the FALSR shapes
// the path must take and the cases the factory declines.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cell_conv.h"
#include "core/cell_conv_paths.h"
#include "core/tests/cell_conv_cases.h"
#include "core/tests/check.h"

namespace {

using namespace falsr::core::test_cases;  // PlaneSpec, Case, Problem, run_and_compare, ...
Case random_case(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Case c;
  c.n = pick(1, 2);
  c.h = pick(0, 4) == 0 ? 1 : pick(1, 12);
  c.w = pick(0, 4) == 0 ? 1 : pick(1, 45);
  c.k = pick(0, 2) == 0 ? 1 : 3;
  const int gexp = pick(1, 4);
  c.groups = int64_t{1} << gexp;  // 2, 4, 8, 16
  const int64_t cin_g = pick(1, 40 / gexp);
  const int64_t cout_g = pick(1, 2 * 16 / static_cast<int>(c.groups) + 1);
  const int64_t cin = cin_g * c.groups;
  c.cout = cout_g * c.groups;
  const int planes = static_cast<int>(std::min<int64_t>(cin, pick(1, 3)));
  const bool all_bf16 = pick(0, 1) == 1;  // the dot-product kernel needs every plane bf16
  int64_t left = cin;
  for (int i = 0; i < planes; ++i) {
    PlaneSpec s;
    s.channels = i + 1 == planes ? left : pick(1, static_cast<int>(left - (planes - 1 - i)));
    left -= s.channels;
    s.stride = s.channels + (pick(0, 2) == 0 ? pick(1, 5) : 0);
    s.dtype = all_bf16 ? DType::BF16 : random_dtype(rng);
    c.inputs.push_back(s);
  }
  random_epilogue(c, rng);
  return c;
}

Case fixed(int64_t h, int64_t w, int64_t k, int64_t groups, int64_t cout,
           std::vector<PlaneSpec> in, bool res, DType out) {
  Case c;
  c.h = h;
  c.w = w;
  c.k = k;
  c.groups = groups;
  c.cout = cout;
  c.inputs = std::move(in);
  c.relu = true;
  c.bias = true;
  c.residual = res;
  c.res = PlaneSpec{cout, cout, DType::BF16};
  c.out = PlaneSpec{cout, cout, out};
  return c;
}

// FALSR-like shapes the path must take (at levels whose lanes G divides): g4 144 -> 16 and
// 16 -> 16, g2 16 -> 16 (1x1 too), a concat, an odd cin_g, a strided slice, tall images.
std::vector<Case> must_take() {
  const DType F = DType::F32, B = DType::BF16;
  return {
      fixed(5, 37, 3, 4, 16, {PlaneSpec{144, 144, B}}, false, B),
      fixed(5, 37, 3, 4, 16, {PlaneSpec{144, 144, F}}, true, F),
      fixed(6, 35, 3, 4, 16, {PlaneSpec{16, 16, B}}, true, B),
      fixed(6, 35, 3, 4, 16, {PlaneSpec{16, 16, F}}, false, F),
      fixed(4, 23, 1, 2, 16, {PlaneSpec{16, 16, B}}, false, F),
      fixed(4, 23, 3, 2, 16, {PlaneSpec{16, 20, F}}, true, B),
      fixed(3, 29, 3, 4, 16, {PlaneSpec{64, 64, B}, PlaneSpec{80, 80, B}}, true, B),
      fixed(3, 29, 3, 4, 16, {PlaneSpec{64, 64, F}, PlaneSpec{80, 80, B}}, false, F),
      fixed(3, 17, 3, 4, 8, {PlaneSpec{36, 37, B}}, false, B),    // cin_g 9 (odd pairs)
      fixed(40, 9, 3, 4, 16, {PlaneSpec{32, 35, B}}, true, F),    // the ring slides
      fixed(1, 1, 3, 4, 16, {PlaneSpec{16, 16, F}}, false, F),
      fixed(35, 1, 3, 2, 8, {PlaneSpec{20, 20, B}}, true, B),
  };
}

// The path a level must take for `c` when the factory takes it: dot products when every
// plane is bf16 and the level has them.
std::string expected_path(const Case& c, Isa isa) {
  bool all_bf16 = true;
  for (const PlaneSpec& s : c.inputs) all_bf16 = all_bf16 && s.dtype == DType::BF16;
  if (isa == Isa::Generic) return "generic/grouped";
  if (isa == Isa::Avx2) return "avx2/grouped";
  if (isa == Isa::Avx512Bf16 && all_bf16) return "avx512_bf16/grouped";
  return "avx512/grouped";
}

int lanes_of(Isa isa) { return isa == Isa::Generic ? 4 : isa == Isa::Avx2 ? 8 : 16; }

void test_levels() {
  std::mt19937 rng(77);
  const std::vector<Case> must = must_take();
  std::vector<Case> cases = must;
  for (int i = 0; i < 200; ++i) cases.push_back(random_case(rng));
  for_each_isa({Isa::Generic, Isa::Avx2, Isa::Avx512, Isa::Avx512Bf16}, [&](Isa isa) {
    int taken = 0, passed = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
      Problem p = make_problem(cases[i], rng);
      Buffer scratch = empty_out(p.pixels(), p.c.out);
      const CellConvArgs a = p.args(p.inputs, p.c.residual ? &p.residual : nullptr, p.weight,
                                    p.bias, scratch, p.c.relu);
      const bool takes = falsr::core::make_grouped_cell_conv_plan(a, isa) != nullptr;
      if (i < must.size() && lanes_of(isa) % cases[i].groups == 0) {
        CHECK(takes);
        if (!takes) std::fprintf(stderr, "  [%s] declined: %s\n", falsr::core::isa_name(isa), describe(cases[i]).c_str());
      }
      if (!takes) continue;
      ++taken;
      const std::string want = expected_path(cases[i], isa);
      const double rel = want == "avx512_bf16/grouped" ? 5e-3 : 1e-5;
      const bool ok = run_and_compare(p, want, rel);
      if (!ok) {
        std::fprintf(stderr, "  [%s] %s case: %s\n", falsr::core::isa_name(isa),
                     i < must.size() ? "fixed" : "random", describe(cases[i]).c_str());
      }
      passed += ok;
    }
    CHECK(taken > static_cast<int>(cases.size()) / 4);  // the random shapes exercise the path
    std::printf("%s: the path took %d of %zu cases, %d match the naive reference\n",
                falsr::core::isa_name(isa), taken, cases.size(), passed);
  });
}

// The factory declines dense, depthwise, groups that do not divide the lanes, and groups
// too wide to save multiplies; ConvAlgo::Direct keeps the direct path.
void test_declines() {
  std::vector<float> in(4 * 5 * 64, 0.5f), w(64 * 64 * 9, 0.25f), out(4 * 5 * 64);
  auto args = [&](int64_t cin, int64_t cout, int64_t groups) {
    CellConvArgs a;
    a.batch = 1;
    a.height = 4;
    a.width = 5;
    a.inputs = {Plane{in.data(), DType::F32, cin, cin}};
    a.weight = w.data();
    a.out_channels = cout;
    a.kernel = 3;
    a.groups = groups;
    a.out = MutPlane{out.data(), DType::F32, cout, cout};
    return a;
  };
  using falsr::core::make_grouped_cell_conv_plan;
#if defined(__x86_64__)  // elsewhere only the generic kernels are compiled
  CHECK(make_grouped_cell_conv_plan(args(16, 16, 4), Isa::Avx512) != nullptr);
#endif
  CHECK(make_grouped_cell_conv_plan(args(16, 16, 1), Isa::Avx512) == nullptr);   // dense
  CHECK(make_grouped_cell_conv_plan(args(16, 16, 16), Isa::Avx512) == nullptr);  // depthwise
  CHECK(make_grouped_cell_conv_plan(args(24, 24, 3), Isa::Avx512) == nullptr);   // 3 groups
  CHECK(make_grouped_cell_conv_plan(args(64, 64, 2), Isa::Avx512) == nullptr);   // 32 per group
#if defined(__x86_64__)
  CHECK(make_grouped_cell_conv_plan(args(32, 16, 8), Isa::Avx512) != nullptr);
#endif
  CHECK(make_grouped_cell_conv_plan(args(32, 16, 8), Isa::Generic) == nullptr);  // 8 > 4 lanes
  unsetenv("FALSR_CPU_ISA");
  CellConvArgs a = args(16, 16, 4);
  CHECK(falsr::core::make_cell_conv_plan(a)->path().find("/grouped") != std::string::npos);
  a.algo = falsr::core::ConvAlgo::Direct;
  CHECK(falsr::core::make_cell_conv_plan(a)->path().find("/direct") != std::string::npos);
}

}  // namespace

int main() {
  unsetenv("FALSR_CPU_ISA");
  test_levels();
  test_declines();
  return falsr::test::report("test_cell_conv_grouped");
}
