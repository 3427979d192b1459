// C++ tests of the Winograd F(2x2, 3x3) cell_conv path (cell_conv_winograd.cpp) against
// the double-accumulating cell_conv_naive: random shapes (1-3 fp32 input planes
// with odd channel counts, strided planes, odd H and W from 1 to 37, batch 1-2), ReLU,
// bias, residual (fp32 / bf16), fp32 and bf16 outputs, tasks run in random ranges; the
// output's pixel-stride gap must stay untouched; a large output takes the streaming-store
// epilogue. Also: when the factory declines.
// Skips (exit 0) on a CPU without AVX-512.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/cell_conv_paths.h"
#include "core/tests/cell_conv_cases.h"
#include "core/tests/check.h"

namespace {

using namespace falsr::core;
using namespace falsr::core::test_cases;  // Case, Problem, run_and_compare, winograd_case

CellConvArgs declinable_args(std::vector<float>& storage, std::vector<float>& weight) {
  CellConvArgs a;
  a.batch = 1;
  a.height = 4;
  a.width = 4;
  storage.assign(16 * 32, 0.5f);
  weight.assign(32 * 32 * 9, 0.25f);
  a.inputs.push_back({storage.data(), DType::F32, 32, 32});
  a.weight = weight.data();
  a.out_channels = 32;
  a.kernel = 3;
  a.groups = 1;
  return a;
}

void test_declines() {
  std::vector<float> storage, weight;
  CHECK(make_winograd_cell_conv_plan(declinable_args(storage, weight), Isa::Avx512) != nullptr);
  CHECK(make_winograd_cell_conv_plan(declinable_args(storage, weight), Isa::Amx) != nullptr);
  CHECK(make_winograd_cell_conv_plan(declinable_args(storage, weight), Isa::Avx2) == nullptr);
  CHECK(make_winograd_cell_conv_plan(declinable_args(storage, weight), Isa::Generic) == nullptr);
  // The ISA cap: under FALSR_CPU_ISA=avx2 the caller's max_isa() rules the path out.
  setenv("FALSR_CPU_ISA", "avx2", 1);
  CHECK(make_winograd_cell_conv_plan(declinable_args(storage, weight), max_isa()) == nullptr);
  setenv("FALSR_CPU_ISA", "avx512", 1);
  CHECK(make_winograd_cell_conv_plan(declinable_args(storage, weight), max_isa()) != nullptr);
  unsetenv("FALSR_CPU_ISA");
  auto a = declinable_args(storage, weight);
  a.kernel = 1;
  CHECK(make_winograd_cell_conv_plan(a, Isa::Avx512) == nullptr);
  a = declinable_args(storage, weight);
  a.groups = 2;
  CHECK(make_winograd_cell_conv_plan(a, Isa::Avx512) == nullptr);
  a = declinable_args(storage, weight);
  a.algo = ConvAlgo::Direct;
  CHECK(make_winograd_cell_conv_plan(a, Isa::Avx512) == nullptr);
  a = declinable_args(storage, weight);
  a.inputs[0].dtype = DType::BF16;
  CHECK(make_winograd_cell_conv_plan(a, Isa::Avx512) == nullptr);
  a = declinable_args(storage, weight);
  a.inputs[0].channels = 15;
  CHECK(make_winograd_cell_conv_plan(a, Isa::Avx512) == nullptr);
  a = declinable_args(storage, weight);
  a.out_channels = 15;
  CHECK(make_winograd_cell_conv_plan(a, Isa::Avx512) == nullptr);
}

}  // namespace

int main() {
  if (cpu_isa() < Isa::Avx512) {
    std::printf("test_cell_conv_winograd: skipped (this CPU lacks AVX-512)\n");
    return 0;
  }
  test_declines();
  std::mt19937 rng(20261123);
  std::vector<Case> cases;
  for (int i = 0; i < 48; ++i) cases.push_back(winograd_case(rng, i, DType::F32));
  cases.push_back(winograd_big_case(DType::F32, 0, true));
  cases.push_back(winograd_big_case(DType::F32, 16, false));  // strided, still whole lines
  double worst = 0.0;
  RunOptions o;
  o.make = [](const CellConvArgs& a) { return make_winograd_cell_conv_plan(a, Isa::Avx512); };
  o.cuts = &rng;
  o.worst = &worst;
  for (const Case& c : cases) {
    Problem p = make_problem(c, rng);
    if (!run_and_compare(p, "avx512/winograd2", 1e-5, o)) {
      std::fprintf(stderr, "  case: %s\n", describe(c).c_str());
    }
  }
  std::printf("worst fp32 error relative to sum |terms|: %.3g\n", worst);
  return falsr::test::report("test_cell_conv_winograd");
}
