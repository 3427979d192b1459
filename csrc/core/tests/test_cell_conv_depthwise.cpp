// C++ tests of the depthwise cell_conv path (cell_conv_depthwise.cpp) against the double-
// accumulating cell_conv_naive, at every instruction-set level this CPU has (FALSR_CPU_ISA
// = generic, avx2, avx512, avx512_bf16): random shapes (1-3 planes of fp32 / bf16, channel
// counts not multiples of the lanes, channel slices with pixel_stride > channels, widths
// and heights from 1), k 1/3, ReLU, bias, fp32 / bf16 residual and output; task-range
// splitting; the cases the factory declines; ConvAlgo::Direct keeps the direct path.
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
  c.h = pick(0, 4) == 0 ? 1 : pick(1, 20);
  c.w = pick(0, 4) == 0 ? 1 : pick(1, 45);
  c.k = pick(0, 2) == 0 ? 1 : 3;
  const int64_t cin = pick(1, 70);
  c.inputs = random_planes(rng, cin, 0.5);
  c.groups = cin;
  c.cout = cin;
  random_epilogue(c, rng);
  return c;
}

// FALSR-like shapes: full 16-lane blocks, a concat whose planes end mid-vector, a channel
// slice of a wider buffer, tall images (several row pairs and tasks), one pixel.
std::vector<Case> fixed_cases() {
  std::vector<Case> v;
  auto add = [&](int64_t h, int64_t w, int64_t k, std::vector<PlaneSpec> in, bool res, DType out) {
    Case c;
    c.h = h;
    c.w = w;
    c.k = k;
    for (const PlaneSpec& s : in) c.cout += s.channels;
    c.cout -= 1;  // Case starts at 1
    c.groups = c.cout;
    c.inputs = std::move(in);
    c.relu = true;
    c.bias = true;
    c.residual = res;
    c.res = PlaneSpec{c.cout, c.cout, DType::BF16};
    c.out = PlaneSpec{c.cout, c.cout, out};
    v.push_back(c);
  };
  const DType F = DType::F32, B = DType::BF16;
  add(9, 37, 3, {PlaneSpec{64, 64, B}}, false, B);
  add(9, 37, 3, {PlaneSpec{96, 96, F}}, true, F);
  add(7, 21, 3, {PlaneSpec{20, 20, B}, PlaneSpec{13, 13, F}, PlaneSpec{31, 40, B}}, true, B);
  add(5, 19, 1, {PlaneSpec{48, 64, F}}, true, B);
  add(40, 9, 3, {PlaneSpec{17, 17, B}}, false, F);
  add(33, 3, 3, {PlaneSpec{5, 7, F}}, true, F);
  add(1, 1, 3, {PlaneSpec{3, 3, B}}, true, B);
  add(1, 30, 3, {PlaneSpec{16, 16, F}}, false, F);
  add(30, 1, 3, {PlaneSpec{16, 16, B}}, false, B);
  return v;
}

// The path each level takes: depthwise at every one (avx512_bf16 runs the AVX-512 kernel).
std::string want_path(Isa isa) {
  if (isa == Isa::Generic) return "generic/depthwise";
  if (isa == Isa::Avx2) return "avx2/depthwise";
  return "avx512/depthwise";
}

void test_levels() {
  std::mt19937 rng(2024);
  std::vector<Case> cases = fixed_cases();
  const size_t fixed = cases.size();
  for (int i = 0; i < 150; ++i) cases.push_back(random_case(rng));
  for_each_isa({Isa::Generic, Isa::Avx2, Isa::Avx512, Isa::Avx512Bf16}, [&](Isa isa) {
    int passed = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
      Problem p = make_problem(cases[i], rng);
      const bool ok = run_and_compare(p, want_path(isa), 1e-5);
      if (!ok) {
        std::fprintf(stderr, "  [%s] %s case: %s\n", falsr::core::isa_name(isa),
                     i < fixed ? "fixed" : "random", describe(cases[i]).c_str());
      }
      passed += ok;
    }
    std::printf("%s: %d of %zu cases match the naive reference\n", want_path(isa).c_str(),
                passed, cases.size());
  });
}

// The factory declines what is not depthwise; ConvAlgo::Direct keeps the direct path.
void test_declines() {
  std::vector<float> in(4 * 5 * 16, 0.5f), w(16 * 16 * 9, 0.25f), out(4 * 5 * 32);
  auto args = [&](int64_t cin, int64_t cout, int64_t groups, int64_t k) {
    CellConvArgs a;
    a.batch = 1;
    a.height = 4;
    a.width = 5;
    a.inputs = {Plane{in.data(), DType::F32, cin, cin}};
    a.weight = w.data();
    a.out_channels = cout;
    a.kernel = k;
    a.groups = groups;
    a.out = MutPlane{out.data(), DType::F32, cout, cout};
    return a;
  };
  using falsr::core::make_depthwise_cell_conv_plan;
  CHECK(make_depthwise_cell_conv_plan(args(16, 16, 16, 3), Isa::Generic) != nullptr);
  CHECK(make_depthwise_cell_conv_plan(args(16, 16, 16, 1), Isa::Generic) != nullptr);
  CHECK(make_depthwise_cell_conv_plan(args(16, 32, 16, 3), Isa::Avx512) == nullptr);  // multiplier 2
  CHECK(make_depthwise_cell_conv_plan(args(16, 16, 8, 3), Isa::Avx512) == nullptr);
  CHECK(make_depthwise_cell_conv_plan(args(16, 16, 1, 3), Isa::Avx512) == nullptr);
  CellConvArgs a = args(16, 16, 16, 3);
  unsetenv("FALSR_CPU_ISA");
  CHECK(falsr::core::make_cell_conv_plan(a)->path().find("/depthwise") != std::string::npos);
  a.algo = falsr::core::ConvAlgo::Direct;
  CHECK(falsr::core::make_cell_conv_plan(a)->path().find("/direct") != std::string::npos);
}

// An fp32 output of 16 MiB and more in 64-byte aligned buffers: stored with non-temporal
// stores (AVX2 / AVX-512), which must still give the same values.
void test_streamed_output() {
  const int64_t h = 64, w = 1030, c = 64, pixels = h * w;
  std::mt19937 rng(5);
  auto aligned = [](std::vector<float>& v, size_t n) {
    v.assign(n + 16, 0.0f);
    const auto addr = reinterpret_cast<uintptr_t>(v.data());
    return v.data() + ((64 - addr % 64) % 64) / sizeof(float);
  };
  std::vector<float> in_store, out_store, ref_store;
  float* in = aligned(in_store, static_cast<size_t>(pixels * c));
  float* out = aligned(out_store, static_cast<size_t>(pixels * c));
  float* ref = aligned(ref_store, static_cast<size_t>(pixels * c));
  for (int64_t i = 0; i < pixels * c; ++i) in[i] = random_value(rng);
  std::vector<float> weight(static_cast<size_t>(c * 9)), bias(static_cast<size_t>(c));
  for (float& x : weight) x = random_value(rng);
  for (float& x : bias) x = random_value(rng);
  CellConvArgs a;
  a.batch = 1;
  a.height = h;
  a.width = w;
  a.inputs = {Plane{in, DType::F32, c, c}};
  a.weight = weight.data();
  a.bias = bias.data();
  a.out_channels = c;
  a.kernel = 3;
  a.groups = c;
  a.relu = true;
  a.out = MutPlane{ref, DType::F32, c, c};
  falsr::core::cell_conv_naive(a);
  a.out.data = out;
  for (const char* level : {"avx2", "avx512"}) {
    if (static_cast<int>(falsr::core::cpu_isa()) < static_cast<int>(std::string(level) == "avx2" ? Isa::Avx2 : Isa::Avx512)) continue;
    setenv("FALSR_CPU_ISA", level, 1);
    std::fill(out, out + pixels * c, -1.0f);
    auto plan = falsr::core::make_cell_conv_plan(a);
    plan->run_tasks(a, 0, plan->num_tasks());
    double worst = 0;
    for (int64_t i = 0; i < pixels * c; ++i) {
      worst = std::max(worst, static_cast<double>(std::fabs(out[i] - ref[i])) / (1.0 + std::fabs(ref[i])));
    }
    CHECK(plan->path() == std::string(level) + "/depthwise");
    CHECK(worst < 1e-5);
    std::printf("streamed fp32 output [%s]: worst relative error %.2g\n", level, worst);
  }
  unsetenv("FALSR_CPU_ISA");
}

}  // namespace

int main() {
  unsetenv("FALSR_CPU_ISA");
  test_levels();
  test_streamed_output();
  test_declines();
  return falsr::test::report("test_cell_conv_depthwise");
}
