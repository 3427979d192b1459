// C++ tests of the avx512_bf16 cell_conv path (cell_conv_bf16*.cpp) against the double-
// accumulating cell_conv_naive on the same bf16 values: random shapes (1-3 bf16 planes
// with odd channel counts and pixel strides, widths 1..40, heights 1..9 and taller,
// k 1/3, cout 1..100, ReLU, bias, fp32 / bf16 residual and output), FALSR-like shapes
// (several weight passes, concat inputs, 1x1 read in place), small groups, task-range
// splitting, and the cases where the factory must decline. Skips (exit 0) on a CPU
// without avx512_bf16.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/cell_conv.h"
#include "core/cell_conv_paths.h"
#include "core/tests/cell_conv_cases.h"
#include "core/tests/check.h"

namespace {

using namespace falsr::core::test_cases;  // PlaneSpec, Case, Problem, run_and_compare, ...

const char* const kPath = "avx512_bf16/direct";

Case random_case(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Case c;
  c.n = pick(1, 2);
  c.h = pick(1, 9);
  c.w = pick(1, 40);
  c.k = pick(0, 2) == 0 ? 1 : 3;
  c.cout = pick(1, 100);
  const int64_t cin = pick(1, 70);
  const bool even = pick(0, 3) == 0;  // all planes even: a 1x1 conv reads them in place
  c.inputs = random_planes(rng, cin, 1.0, even);
  random_epilogue(c, rng);
  c.algo = ConvAlgo::Direct;
  return c;
}

PlaneSpec bf(int64_t ch, int64_t stride = 0) {
  return PlaneSpec{ch, stride == 0 ? ch : stride, DType::BF16};
}

// FALSR-like shapes (widths past one tile, so weights run in several passes), 1x1 read in
// place with odd strides, small groups taken as block-diagonal dense, tall images.
std::vector<Case> fixed_cases() {
  std::vector<Case> v;
  auto add = [&](int64_t h, int64_t w, int64_t k, int64_t groups, int64_t cout,
                 std::vector<PlaneSpec> in, bool relu, bool res, DType out) {
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
    c.res = PlaneSpec{cout, cout, DType::BF16};
    c.out = PlaneSpec{cout, cout, out};
    c.algo = ConvAlgo::Direct;
    v.push_back(c);
  };
  const DType F = DType::F32, B = DType::BF16;
  add(3, 50, 3, 1, 64, {bf(64)}, true, false, F);                    // 3 passes of 96 pairs
  add(3, 50, 3, 1, 64, {bf(64)}, true, true, B);
  add(2, 19, 3, 1, 64, {bf(64), bf(64), bf(64), bf(64)}, true, true, B);  // 4 concat inputs
  add(2, 23, 1, 1, 64, {bf(64)}, false, true, F);                   // 1x1 in place
  add(2, 21, 1, 1, 32, {bf(464)}, true, false, B);                   // 1x1 464 -> 32, passes
  add(2, 13, 3, 1, 32, {bf(464)}, true, false, F);                   // 3x3 464 -> 32
  add(3, 20, 1, 1, 32, {bf(64, 67), bf(128, 131), bf(272)}, true, false, F);  // odd strides
  add(3, 20, 1, 1, 33, {bf(63, 64), bf(129)}, true, true, B);        // odd planes: gathered
  add(3, 17, 3, 4, 16, {bf(16)}, true, true, F);                     // g4 16 -> 16
  add(3, 19, 1, 2, 16, {bf(16)}, true, false, B);                    // g2 16 -> 16 1x1
  add(2, 13, 3, 8, 16, {bf(3), bf(13)}, true, true, F);              // g8 16 -> 16
  add(2, 31, 3, 1, 80, {bf(7)}, true, false, F);                     // blocks 4 + 1
  add(2, 31, 3, 1, 48, {bf(3)}, false, true, B);                     // 3 blocks
  add(2, 29, 3, 1, 20, {bf(33)}, true, false, F);                    // masked tail
  add(5, 7, 3, 1, 1, {bf(1)}, false, false, B);
  add(40, 9, 3, 1, 20, {bf(7), bf(5, 6)}, true, true, F);            // the ring slides
  add(34, 5, 1, 1, 17, {bf(9)}, true, false, B);
  return v;
}

void test_cases() {
  std::mt19937 rng(4321);
  std::vector<Case> cases = fixed_cases();
  const size_t fixed = cases.size();
  for (int i = 0; i < 200; ++i) cases.push_back(random_case(rng));
  int passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    Problem p = make_problem(cases[i], rng);
    for (float& x : p.weight) x = bf16_to_float(float_to_bf16(x));  // as the engine passes them
    const bool ok = run_and_compare(p, kPath, 1e-5);
    if (!ok) {
      std::fprintf(stderr, "  %s case: %s\n", i < fixed ? "fixed" : "random",
                   describe(cases[i]).c_str());
    }
    passed += ok;
  }
  std::printf("%s: %d of %zu cases match the naive reference\n", kPath, passed, cases.size());
}

// The factory declines what it does not run: fp32 or mixed inputs, groups whose block-
// diagonal packing would multiply more lanes, kernels other than 1 / 3, ISA below
// avx512_bf16 (by argument and through FALSR_CPU_ISA at the front door).
void test_declines() {
  std::vector<float> fin(4 * 5 * 64, 0.5f), w(64 * 64 * 9, 0.25f), out(4 * 5 * 64);
  std::vector<uint16_t> bin(4 * 5 * 64, float_to_bf16(0.5f));
  auto args = [&](int64_t cin, int64_t cout, int64_t groups) {
    CellConvArgs a;
    a.batch = 1;
    a.height = 4;
    a.width = 5;
    a.inputs = {Plane{bin.data(), DType::BF16, cin, cin}};
    a.weight = w.data();
    a.out_channels = cout;
    a.kernel = 3;
    a.groups = groups;
    a.out = MutPlane{out.data(), DType::F32, cout, cout};
    return a;
  };
  using falsr::core::make_bf16_cell_conv_plan;
  CHECK(make_bf16_cell_conv_plan(args(8, 8, 1), Isa::Avx512Bf16) != nullptr);
  CHECK(make_bf16_cell_conv_plan(args(8, 8, 1), Isa::Avx512) == nullptr);
  CellConvArgs a = args(8, 8, 1);
  a.inputs[0] = Plane{fin.data(), DType::F32, 8, 8};
  CHECK(make_bf16_cell_conv_plan(a, Isa::Avx512Bf16) == nullptr);
  a = args(8, 8, 1);
  a.inputs = {Plane{bin.data(), DType::BF16, 4, 8}, Plane{fin.data() + 4, DType::F32, 4, 8}};
  CHECK(make_bf16_cell_conv_plan(a, Isa::Avx512Bf16) == nullptr);
  a = args(8, 8, 1);
  a.kernel = 5;
  CHECK(make_bf16_cell_conv_plan(a, Isa::Avx512Bf16) == nullptr);
  CHECK(make_bf16_cell_conv_plan(args(64, 64, 2), Isa::Avx512Bf16) == nullptr);   // 32 / group
  CHECK(make_bf16_cell_conv_plan(args(32, 32, 32), Isa::Avx512Bf16) == nullptr);  // depthwise
  CHECK(make_bf16_cell_conv_plan(args(16, 16, 4), Isa::Avx512Bf16) != nullptr);

  // The front door: best ISA takes this path; FALSR_CPU_ISA=avx512 caps it off.
  unsetenv("FALSR_CPU_ISA");
  CHECK(falsr::core::make_cell_conv_plan(args(8, 8, 1))->path() == kPath);
  a = args(8, 8, 1);
  a.inputs[0] = Plane{fin.data(), DType::F32, 8, 8};
  CHECK(falsr::core::make_cell_conv_plan(a)->path() != kPath);
  setenv("FALSR_CPU_ISA", "avx512", 1);
  CHECK(falsr::core::make_cell_conv_plan(args(8, 8, 1))->path() == "avx512/direct");
  setenv("FALSR_CPU_ISA", "avx512_bf16", 1);
  CHECK(falsr::core::make_cell_conv_plan(args(8, 8, 1))->path() == kPath);
  unsetenv("FALSR_CPU_ISA");
}

}  // namespace

int main() {
  if (static_cast<int>(falsr::core::cpu_isa()) < static_cast<int>(Isa::Avx512Bf16)) {
    std::printf("test_cell_conv_bf16: skipped, this CPU lacks avx512_bf16 (has %s)\n",
                falsr::core::isa_name(falsr::core::cpu_isa()));
    return 0;
  }
  unsetenv("FALSR_CPU_ISA");
  test_cases();
  test_declines();
  return falsr::test::report("test_cell_conv_bf16");
}
