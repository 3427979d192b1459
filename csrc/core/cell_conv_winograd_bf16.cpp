// Winograd F(2x2, 3x3) path of the cell convolution for all-bf16 inputs (AVX-512 BF16):
// the fp32 Winograd path's scheme (cell_conv_winograd.cpp; tasks, window ring, channel
// chunks and fused epilogue are shared: cell_conv_winograd_plan.h) with the 16 GEMMs
// M[xi] = V[xi] * U[xi] on vdpbf16ps, which does twice the MACs per instruction of fp32
// FMA:
//
//  - U = G g G^T is computed once per plan in fp64 from the fp32 weights, rounded to
//    bf16 and packed [xi][ci pair][cout_p][2] (Cin, Cout padded with zeros to 16);
//  - the window ring holds the bf16 inputs as fp32 (exact), V = B^T d B is computed in
//    fp32 and rounded once to bf16, stored [xi][tile][ci] so a channel pair is one
//    32-bit broadcast;
//  - M accumulates in fp32; A^T M A, bias, ReLU, residual and the one rounding to the
//    output dtype are the fp32 path's (cell_conv_winograd_kernels.h).
//
// Accuracy: on top of the bf16 inputs, V and U are rounded to bf16 (relative 2^-9 each),
// and V, U mix several inputs / weights, so the error is a few times the direct bf16
// path's (which only rounds the weights); the test measures both against a double
// reference. vdpbf16ps flushes denormals (DAZ / FTZ).
#include <cstdint>
#include <memory>

#include "core/cell_conv.h"
#include "core/cell_conv_winograd_bf16_kernels.h"
#include "core/cell_conv_winograd_plan.h"

namespace falsr::core {

std::unique_ptr<CellConvPlan> make_winograd_bf16_cell_conv_plan(const CellConvArgs& a, Isa isa);

namespace {

#if FALSR_WINO_HAS_X86

// bf16 V and U on vdpbf16ps: the policy of winograd::Plan (cell_conv_winograd_plan.h).
struct Bf16Kernels {
  using Elem = uint16_t;  // bf16 bits
  // Input channels per GEMM pass (V holds one chunk): 64 pairs, so a 64-cout U panel is
  // 16 KiB and stays in L1 across the block's tiles.
  static constexpr int64_t kChunk = 128;
  static constexpr const char* kPath = "avx512_bf16/winograd2";

  // U[xi][ci / 2][co][ci % 2]: a channel pair of one cout is one 32-bit lane.
  static void pack_weight(Elem* u, int64_t xi, int64_t ci, int64_t co, int64_t cin_p,
                          int64_t cout_p, float value) {
    u[((xi * (cin_p / 2) + ci / 2) * cout_p + co) * 2 + ci % 2] = float_to_bf16(value);
  }

  // V[xi][t][c] as bf16 (xi planes v_xi apart) of tiles t < tiles, channels k0 .. k0 + kc.
  // Not inlined into the AVX-512 task loop (wider target): one call per chunk.
  FALSR_WINO_BF16 static void transform_inputs(const float* const rows[4], int64_t cin_p,
                                               int64_t k0, int64_t kc, int64_t tiles, Elem* v,
                                               int64_t v_xi) {
    for (int64_t t = 0; t < tiles; ++t) {
      for (int64_t c = 0; c < kc; c += 16) {
        const float* d[4];
        for (int i = 0; i < 4; ++i) d[i] = rows[i] + 2 * t * cin_p + k0 + c;
        winograd_bf16::input_tile(d, cin_p, v + t * kc + c, v_xi);
      }
    }
  }

  // u: the chunk's first channel pair of U[xi] (pairs 2 cout_p bf16 apart); kc / 2 pairs.
  template <int MT, int NV>
  FALSR_WINO_BF16 static void gemm(const Elem* v, int64_t kc, const Elem* u, int64_t co,
                                   int64_t cout_p, float* m, bool accumulate) {
    winograd_bf16::gemm_micro<MT, NV>(v, kc, u + 2 * co, 2 * cout_p, kc / 2, m, cout_p,
                                      accumulate);
  }
};

#endif  // FALSR_WINO_HAS_X86

}  // namespace

std::unique_ptr<CellConvPlan> make_winograd_bf16_cell_conv_plan(const CellConvArgs& a, Isa isa) {
  if (static_cast<int>(isa) < static_cast<int>(Isa::Avx512Bf16) ||
      static_cast<int>(cpu_isa()) < static_cast<int>(Isa::Avx512Bf16) ||
      a.algo != ConvAlgo::Auto || !winograd::fits(a, DType::BF16)) {
    return nullptr;
  }
#if FALSR_WINO_HAS_X86
  return std::make_unique<winograd::Plan<Bf16Kernels>>(a);
#else
  return nullptr;
#endif
}

}  // namespace falsr::core
