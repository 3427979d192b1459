// C++ tests of the bf16 Winograd F(2x2, 3x3) cell_conv path (cell_conv_winograd_bf16.cpp)
// against the double-accumulating cell_conv_naive on the same bf16 input values and fp32
// weights: random shapes (1-3 bf16 input planes with odd channel counts, strided
// planes, odd H and W from 1 to 37, batch 1-2), ReLU, bias, residual (fp32 / bf16), fp32
// and bf16 outputs, tasks run in random ranges; the output's pixel-stride gap must stay
// untouched; a large output takes the streaming-store epilogue. The error relative to
// sum |terms| must stay <= 2e-2 (V and U are rounded to bf16); the direct bf16 path on
// the same cases (<= 5e-3) is printed beside it. Also: when the factory declines.
// Skips (exit 0) on a CPU without avx512_bf16.
#include <cstdint>
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

CellConvArgs declinable_args(std::vector<uint16_t>& storage, std::vector<float>& weight) {
  CellConvArgs a;
  a.batch = 1;
  a.height = 4;
  a.width = 4;
  storage.assign(16 * 32, float_to_bf16(0.5f));
  weight.assign(32 * 32 * 9, 0.25f);
  a.inputs.push_back({storage.data(), DType::BF16, 32, 32});
  a.weight = weight.data();
  a.out_channels = 32;
  a.kernel = 3;
  a.groups = 1;
  return a;
}

void test_declines() {
  std::vector<uint16_t> storage;
  std::vector<float> weight;
  const auto make = [&](const CellConvArgs& a, Isa isa) {
    return make_winograd_bf16_cell_conv_plan(a, isa) != nullptr;
  };
  CHECK(make(declinable_args(storage, weight), Isa::Avx512Bf16));
  CHECK(make(declinable_args(storage, weight), Isa::Amx));
  CHECK(!make(declinable_args(storage, weight), Isa::Avx512));
  CHECK(!make(declinable_args(storage, weight), Isa::Avx2));
  CHECK(!make(declinable_args(storage, weight), Isa::Generic));
  // The ISA cap: under FALSR_CPU_ISA=avx512 the caller's max_isa() rules the path out.
  setenv("FALSR_CPU_ISA", "avx512", 1);
  CHECK(!make(declinable_args(storage, weight), max_isa()));
  setenv("FALSR_CPU_ISA", "avx512_bf16", 1);
  CHECK(make(declinable_args(storage, weight), max_isa()));
  unsetenv("FALSR_CPU_ISA");
  auto a = declinable_args(storage, weight);
  a.kernel = 1;
  CHECK(!make(a, Isa::Avx512Bf16));
  a = declinable_args(storage, weight);
  a.groups = 2;
  CHECK(!make(a, Isa::Avx512Bf16));
  a = declinable_args(storage, weight);
  a.algo = ConvAlgo::Direct;
  CHECK(!make(a, Isa::Avx512Bf16));
  a = declinable_args(storage, weight);
  a.inputs[0].dtype = DType::F32;  // fp32 input (storage reinterpreted: never run)
  CHECK(!make(a, Isa::Avx512Bf16));
  a = declinable_args(storage, weight);
  a.inputs[0].channels = 16;  // bf16 + fp32 planes mixed
  a.inputs.push_back({weight.data(), DType::F32, 16, 16});
  CHECK(!make(a, Isa::Avx512Bf16));
  a = declinable_args(storage, weight);
  a.inputs[0].channels = 15;
  CHECK(!make(a, Isa::Avx512Bf16));
  a = declinable_args(storage, weight);
  a.out_channels = 15;
  CHECK(!make(a, Isa::Avx512Bf16));
}

}  // namespace

int main() {
  if (cpu_isa() < Isa::Avx512Bf16) {
    std::printf("test_cell_conv_winograd_bf16: skipped (this CPU lacks avx512_bf16)\n");
    return 0;
  }
  test_declines();
  std::mt19937 rng(20261124);
  std::vector<Case> cases;
  for (int i = 0; i < 48; ++i) cases.push_back(winograd_case(rng, i, DType::BF16));
  cases.push_back(winograd_big_case(DType::BF16, 0, true));
  cases.push_back(winograd_big_case(DType::BF16, 16, false));  // strided, still whole lines
  // V and U are rounded to bf16: 2e-2 of sum |terms|. The direct bf16 path on the same
  // case, for the comparison, rounds only the weights (2^-9 each): 5e-3.
  double worst_winograd = 0.0, worst_direct = 0.0;
  RunOptions winograd, direct;
  winograd.make = [](const CellConvArgs& a) {
    return make_winograd_bf16_cell_conv_plan(a, Isa::Avx512Bf16);
  };
  direct.make = [](const CellConvArgs& a) { return make_bf16_cell_conv_plan(a, Isa::Avx512Bf16); };
  winograd.cuts = direct.cuts = &rng;
  winograd.worst = &worst_winograd;
  direct.worst = &worst_direct;
  for (const Case& c : cases) {
    Problem p = make_problem(c, rng);
    const bool ok = run_and_compare(p, "avx512_bf16/winograd2", 2e-2, winograd);
    if (!run_and_compare(p, "avx512_bf16/direct", 5e-3, direct) || !ok) {
      std::fprintf(stderr, "  case: %s\n", describe(c).c_str());
    }
  }
  std::printf("worst error relative to sum |terms| (fp32 outputs): winograd bf16 %.3g, "
              "direct bf16 %.3g\n", worst_winograd, worst_direct);
  return falsr::test::report("test_cell_conv_winograd_bf16");
}
