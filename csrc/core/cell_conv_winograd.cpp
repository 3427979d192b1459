// Winograd F(2x2, 3x3) fp32 path of the cell convolution (AVX-512): 2.25x fewer
// multiplications than the direct convolution, for the dense 3x3 convs that dominate
// FALSR-A. Scheme (task loop in cell_conv_winograd_plan.h, kernels in
// cell_conv_winograd_kernels.h):
//
//  - the weights are transformed once per plan, U[xi][ci][co] = (G g G^T)[xi], in fp64
//    then rounded; Cin and Cout are padded with zeros to multiples of 16;
//  - a task is (n, column block of TB 2x2 tiles, band of kBandTiles tile rows). It keeps
//    a ring of 4 window rows, each the concat of the inputs over the block's 2 TB + 2
//    columns (zero outside the image: the conv's padding), so every input pixel is
//    gathered about once, and all of a task's data stays in L2:
//  - per tile row and chunk of 64 input channels: V[xi][tile][ci] = B^T d B for the
//    block's tiles, 16 GEMMs M[xi] += V[xi] * U[xi] with register-blocked microkernels
//    (U panels stay in L1 across the block's tiles); then A^T M A fused with bias,
//    ReLU, residual and the store (fp32 or bf16; large fp32 outputs streamed); outputs
//    past the image's right or bottom edge (odd sizes) are computed on zeros and
//    discarded.
//
// Consecutive tasks are consecutive bands of one column block, so a band's two halo rows
// are still in cache. Accuracy: the transforms add a few fp32 roundings per term; the
// test measures the error against a double reference (about 1e-6 relative).
#include <cstdint>
#include <memory>

#include "core/cell_conv_paths.h"
#include "core/cell_conv_winograd_plan.h"

namespace falsr::core {
namespace {

#if FALSR_WINO_HAS_X86  // the whole path is AVX-512

// fp32 V and U on FMA: the policy of winograd::Plan (cell_conv_winograd_plan.h).
struct Fp32Kernels {
  using Elem = float;
  // Input channels per GEMM pass: V holds one chunk, so the tile block (and with it the
  // reuse of U) need not shrink for wide concats.
  static constexpr int64_t kChunk = 64;
  static constexpr const char* kPath = "avx512/winograd2";

  // U[xi][ci][co].
  static void pack_weight(Elem* u, int64_t xi, int64_t ci, int64_t co, int64_t cin_p,
                          int64_t cout_p, float value) {
    u[(xi * cin_p + ci) * cout_p + co] = value;
  }

  // V[xi][t][c] (xi planes v_xi apart) of tiles t < tiles, channels k0 .. k0 + kc;
  // inlined into the task loop (same target).
  FALSR_WINO_AVX512 FALSR_WINO_INLINE static void transform_inputs(
      const float* const rows[4], int64_t cin_p, int64_t k0, int64_t kc, int64_t tiles, Elem* v,
      int64_t v_xi) {
    for (int64_t t = 0; t < tiles; ++t) {
      for (int64_t c = 0; c < kc; c += 16) {
        const float* d[4];
        for (int i = 0; i < 4; ++i) d[i] = rows[i] + 2 * t * cin_p + k0 + c;
        winograd::input_tile(d, cin_p, v + t * kc + c, v_xi);
      }
    }
  }

  // u: the chunk's first channel of U[xi] (rows of cout_p floats); kc x 64 floats of it
  // at most per call, which stay in L1.
  template <int MT, int NV>
  FALSR_WINO_AVX512 static void gemm(const Elem* v, int64_t kc, const Elem* u, int64_t co,
                                     int64_t cout_p, float* m, bool accumulate) {
    winograd::gemm_micro<MT, NV>(v, kc, u + co, cout_p, kc, m, cout_p, accumulate);
  }
};

#endif  // FALSR_WINO_HAS_X86

}  // namespace

std::unique_ptr<CellConvPlan> make_winograd_cell_conv_plan(const CellConvArgs& a, Isa isa) {
  if (isa < Isa::Avx512 || a.algo == ConvAlgo::Direct || !winograd::fits(a, DType::F32)) {
    return nullptr;
  }
#if FALSR_WINO_HAS_X86
  return std::make_unique<winograd::Plan<Fp32Kernels>>(a);
#else
  return nullptr;
#endif
}

}  // namespace falsr::core
