// C++ tests of csrc/core/cell_conv (no torch): every code path of the direct convolution
// (FALSR_CPU_ISA = generic, avx2, avx512, as far as this CPU goes) against the double-
// accumulating cell_conv_naive, on random shapes: k 1/3, groups 1/2/4/depthwise, 1-3
// input planes with odd channel counts and pixel strides, fp32 and bf16 planes, widths
// 1..49 (tile tails), ReLU, bias, residual; task-range splitting; the front door (Auto)
// at the best ISA; and every argument error.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/cell_conv.h"
#include "core/tests/cell_conv_cases.h"
#include "core/tests/check.h"

namespace {

using namespace falsr::core::test_cases;  // PlaneSpec, Case, Problem, run_and_compare, ...

Case random_case(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Case c;
  c.n = pick(1, 2);
  c.h = pick(1, 9);
  const int widths[] = {1, 2, 3, 5, 6, 7, 12, 13, 17, 24, 33, 49};
  c.w = widths[pick(0, 11)];
  c.k = pick(0, 2) == 0 ? 1 : 3;
  const int kind = pick(0, 5);  // 0-2 dense, 3 g2, 4 g4, 5 depthwise
  int64_t cin;
  if (kind == 5) {
    c.groups = pick(1, 40);
    cin = c.groups;
    c.cout = c.groups;
  } else {
    c.groups = kind == 3 ? 2 : kind == 4 ? 4 : 1;
    const int64_t cin_g = pick(1, 40 / static_cast<int>(c.groups) + 3);
    const int64_t cout_g = pick(1, 80 / static_cast<int>(c.groups) + 3);
    cin = cin_g * c.groups;
    c.cout = cout_g * c.groups;
  }
  c.inputs = random_planes(rng, cin, 0.3);
  random_epilogue(c, rng, 0.3);
  c.algo = ConvAlgo::Direct;
  return c;
}

PlaneSpec f32(int64_t ch) { return PlaneSpec{ch, ch, DType::F32}; }

// FALSR-like shapes and the tile edge cases (full 6x64 tiles, every tail).
std::vector<Case> fixed_cases() {
  std::vector<Case> v;
  auto add = [&](int64_t h, int64_t w, int64_t k, int64_t groups, int64_t cout,
                 std::vector<PlaneSpec> in, bool relu, bool res) {
    Case c;
    c.h = h;
    c.w = w;
    c.k = k;
    c.groups = groups;
    c.cout = cout;
    c.inputs = std::move(in);
    c.relu = relu;
    c.bias = true;
    c.residual = res;
    c.res = f32(cout);
    c.out = f32(cout);
    c.algo = ConvAlgo::Direct;
    v.push_back(c);
  };
  add(3, 50, 3, 1, 64, {f32(64)}, true, false);                        // the bulk of FALSR-A
  add(2, 19, 3, 1, 64, {f32(64), f32(64), f32(64), f32(64)}, true, true);  // 4 concat inputs
  add(2, 23, 1, 1, 64, {f32(64)}, false, true);
  add(2, 21, 1, 1, 32, {f32(464)}, true, false);
  add(3, 20, 1, 1, 32, {f32(64), f32(128), f32(272)}, true, false);
  add(4, 18, 3, 192, 192, {f32(192)}, true, false);  // depthwise
  add(3, 17, 3, 4, 16, {f32(16)}, true, true);       // g4 16 -> 16 (spread)
  add(3, 17, 3, 2, 64, {f32(64)}, true, true);       // g2 64 -> 64
  add(3, 17, 3, 4, 64, {f32(64)}, false, false);     // g4 64 -> 64
  add(3, 19, 3, 4, 32, {f32(32)}, true, true);       // g4 32 -> 32
  add(3, 19, 1, 2, 16, {f32(16)}, true, false);      // g2 16 -> 16 1x1
  add(2, 13, 3, 8, 24, {f32(3), f32(13)}, true, true);  // g8 16 -> 24
  add(2, 13, 3, 4, 8, {f32(16)}, false, true);       // g4 16 -> 8
  // Spread (vectors across output channels, inputs permuted into place):
  add(3, 21, 3, 4, 12, {f32(5), f32(7)}, true, true);  // g4 12 -> 12 (avx512 only)
  add(3, 21, 3, 4, 8, {f32(4)}, false, false);          // g4 4 -> 8, channel multiplier 2
  add(2, 15, 1, 4, 16, {f32(16)}, true, true);          // g4 16 -> 16 1x1
  add(2, 31, 3, 1, 80, {f32(7)}, true, false);       // 5 blocks of 16: 4 + 1
  add(2, 31, 3, 1, 48, {f32(3)}, false, true);       // 3 blocks
  add(2, 29, 3, 1, 20, {f32(33)}, true, false);      // masked tail
  add(5, 7, 3, 1, 1, {f32(1)}, false, false);
  // Tall images: tasks of several rows, so the ring of gathered rows slides.
  add(40, 9, 3, 1, 20, {f32(7), PlaneSpec{5, 6, DType::BF16}}, true, true);
  add(37, 11, 3, 24, 24, {f32(24)}, true, false);     // depthwise
  add(35, 10, 3, 4, 16, {f32(16)}, false, true);      // spread
  add(34, 5, 1, 1, 17, {PlaneSpec{9, 9, DType::BF16}}, true, false);
  return v;
}

void test_paths() {
  std::mt19937 rng(1234);
  const std::vector<Case> fixed = fixed_cases();
  std::vector<Case> cases = fixed;
  for (int i = 0; i < 160; ++i) cases.push_back(random_case(rng));
  // Direct pinned: fp32 accumulation and one rounding, so a bf16 output is held to half
  // a bf16 ulp beyond the fp32 bound.
  for_each_isa({Isa::Generic, Isa::Avx2, Isa::Avx512}, [&](Isa isa) {
    const std::string want = std::string(falsr::core::isa_name(isa)) + "/direct";
    int passed = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
      Problem p = make_problem(cases[i], rng);
      const bool ok = run_and_compare(p, want, 1e-5);
      if (!ok) {
        std::fprintf(stderr, "  [%s] %s case: %s\n", falsr::core::isa_name(isa),
                     i < fixed.size() ? "fixed" : "random", describe(cases[i]).c_str());
      }
      passed += ok;
    }
    std::printf("%s: %d of %zu cases match the naive reference\n", want.c_str(), passed,
                cases.size());
  });
  // The front door with algo Auto at the best ISA: whichever path it picks must agree
  // (all-bf16 may take bf16 dot products or Winograd: 1e-2 of sum |terms|).
  for (Case c : fixed) {
    c.algo = ConvAlgo::Auto;
    for (DType dt : {DType::F32, DType::BF16}) {
      for (PlaneSpec& s : c.inputs) s.dtype = dt;
      c.out.dtype = dt;
      Problem p = make_problem(c, rng);
      RunOptions o;
      o.out_ulp = false;
      if (!run_and_compare(p, "", dt == DType::BF16 ? 1e-2 : 1e-5, o)) {
        std::fprintf(stderr, "  auto case: %s\n", describe(c).c_str());
      }
    }
  }
}

void test_errors() {
  std::vector<float> in(2 * 4 * 5 * 8, 0.5f), res(2 * 4 * 5 * 6, 0.5f), out(2 * 4 * 5 * 6);
  std::vector<float> w(6 * 8 * 9, 0.1f);
  auto good = [&] {
    CellConvArgs a;
    a.batch = 2;
    a.height = 4;
    a.width = 5;
    a.inputs = {Plane{in.data(), DType::F32, 8, 8}};
    a.weight = w.data();
    a.out_channels = 6;
    a.kernel = 3;
    a.groups = 1;
    a.has_residual = true;
    a.residual = Plane{res.data(), DType::F32, 6, 6};
    a.out = MutPlane{out.data(), DType::F32, 6, 6};
    return a;
  };
  CHECK(falsr::core::make_cell_conv_plan(good()) != nullptr);
  CellConvArgs a;
  a = good(); a.batch = 0;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "batch");
  a = good(); a.height = 0;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "height");
  a = good(); a.width = -1;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "width");
  a = good(); a.inputs.clear();
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "inputs");
  a = good(); a.inputs[0].channels = 0;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "inputs[0].channels");
  a = good(); a.inputs[0].pixel_stride = 7;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "inputs[0].pixel_stride");
  a = good(); a.inputs.push_back(Plane{nullptr, DType::F32, 2, 2});
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "inputs[1].data");
  a = good(); a.inputs[0].dtype = static_cast<DType>(7);
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "inputs[0].dtype");
  a = good(); a.weight = nullptr;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "weight");
  a = good(); a.kernel = 5;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "kernel");
  a = good(); a.kernel = 2;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "kernel");
  a = good(); a.groups = 0;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "groups");
  a = good(); a.groups = 3;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "input channels");
  a = good(); a.groups = 4;  // divides Cin = 8, not Cout = 6
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "out_channels");
  a = good(); a.out_channels = 0;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "out_channels");
  a = good(); a.out.channels = 5;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "out.channels");
  a = good(); a.out.data = nullptr;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "out.data");
  a = good(); a.out.pixel_stride = 3;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "out.pixel_stride");
  a = good(); a.residual.channels = 4;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "residual.channels");
  a = good(); a.residual.data = nullptr;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "residual.data");
  a = good(); a.has_residual = false; a.residual = Plane{};  // unused residual: fine
  CHECK(falsr::core::make_cell_conv_plan(a) != nullptr);
  a = good(); a.batch = int64_t{1} << 40; a.height = int64_t{1} << 30;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "overflows");
  a = good(); a.algo = static_cast<ConvAlgo>(9);
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "algo");
  // Overlaps: out on an input, out on the residual, out shifted into an input.
  a = good(); a.out.data = in.data();
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "inputs[0]");
  a = good(); a.out.data = res.data() + 3;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "residual");
  a = good(); a.out = MutPlane{in.data() + 8 * 39, DType::F32, 6, 6};  // shares in's last pixel
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "overlap");
  // Channel slices of one NHWC buffer interleave without sharing an element: allowed.
  std::vector<float> wide(2 * 4 * 5 * 14, 0.25f);
  a = good();
  a.inputs = {Plane{wide.data(), DType::F32, 8, 14}};
  a.out = MutPlane{wide.data() + 8, DType::F32, 6, 14};
  CHECK(falsr::core::make_cell_conv_plan(a) != nullptr);
  a.out = MutPlane{wide.data() + 7, DType::F32, 6, 14};  // channel 7 is in both
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "overlap");
  // The naive reference checks too.
  a = good(); a.kernel = 4;
  CHECK_THROWS(falsr::core::cell_conv_naive(a), "kernel");
  setenv("FALSR_CPU_ISA", "sse9", 1);
  CHECK_THROWS(falsr::core::make_cell_conv_plan(good()), "FALSR_CPU_ISA");
  unsetenv("FALSR_CPU_ISA");
}

}  // namespace

int main() {
  test_errors();
  test_paths();
  return falsr::test::report("test_cell_conv");
}
