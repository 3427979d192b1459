// AVX-512 BF16 building blocks of the bf16 Winograd F(2x2, 3x3) cell convolution
// (cell_conv_winograd_bf16.cpp): the input transform V = B^T d B in fp32 rounded to bf16,
// and the GEMM microkernel M[xi] = V[xi] * U[xi] on vdpbf16ps (bf16 channel pairs, fp32
// accumulation). The output side (A^T M A, loads and stores of the epilogue) is the fp32
// path's (cell_conv_winograd_kernels.h). Only included by cell_conv_winograd_bf16.cpp and
// only called after the ISA check, from functions with the same target attribute.
#pragma once

#include "core/cell_conv_winograd_kernels.h"

#if FALSR_WINO_HAS_X86

#define FALSR_WINO_BF16 \
  __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512bf16,avx2,fma")))

#include <cstdint>
#include <cstring>

namespace falsr::core::winograd_bf16 {

// ---------------------------------------------------------------------------------
// Input transform of one 4x4 tile, 16 channels: as winograd::input_tile (rows[i] at the
// tile's first pixel of fp32 window row i, pixels `cstride` floats apart), but each
// V[xi] is rounded to bf16 (nearest even) and stored as 16 bf16 at v + xi * vstride.
// ---------------------------------------------------------------------------------
FALSR_WINO_BF16 FALSR_WINO_INLINE void input_tile(const float* const rows[4], int64_t cstride,
                                                  uint16_t* v, int64_t vstride) {
  __m512 x[16];
  winograd::input_transform(rows, cstride, x);
  for (int xi = 0; xi < 16; ++xi) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(v + xi * vstride),
                        (__m256i)_mm512_cvtneps_pbh(x[xi]));
  }
}

// ---------------------------------------------------------------------------------
// GEMM microkernel: m[t][16 NV couts] (+)= sum_p v[t][pair p] . u[p][16 NV couts][2] for
// MT tiles. v rows are bf16 channels (ldv bf16 apart), a pair is one 32-bit broadcast;
// u rows are pairs of 16 NV couts x 2 bf16 (ldu bf16 apart). MT x NV accumulators stay
// in registers (<= 24 of the 32 zmm). The caller splits the pairs so that the u panel
// (pair_count x 16 NV x 4 bytes) stays in L1. accumulate: m += (later channel chunks).
// ---------------------------------------------------------------------------------
template <int MT, int NV>
FALSR_WINO_BF16 void gemm_micro(const uint16_t* v, int64_t ldv, const uint16_t* u, int64_t ldu,
                                int64_t pair_count, float* m, int64_t ldm, bool accumulate) {
  __m512 acc[MT][NV];
  winograd::load_accumulators<MT, NV>(acc, m, ldm, accumulate);
  for (int64_t p = 0; p < pair_count; ++p) {
    __m512bh b[NV];
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) {
      b[q] = (__m512bh)_mm512_loadu_si512(u + p * ldu + 32 * q);
    }
#pragma GCC unroll 32
    for (int t = 0; t < MT; ++t) {
      int32_t pair;  // memcpy: no aliasing of the bf16 buffer through int32_t
      std::memcpy(&pair, v + t * ldv + 2 * p, sizeof(pair));
      const __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 4
      for (int q = 0; q < NV; ++q) acc[t][q] = _mm512_dpbf16_ps(acc[t][q], a, b[q]);
    }
  }
  winograd::store_accumulators<MT, NV>(acc, m, ldm);
}

}  // namespace falsr::core::winograd_bf16

#endif  // FALSR_WINO_HAS_X86
