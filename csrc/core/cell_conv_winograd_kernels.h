// AVX-512 building blocks of the Winograd F(2x2, 3x3) cell convolution
// (cell_conv_winograd.cpp): the input transform V = B^T d B, the GEMM microkernel
// M[xi] = V[xi] * U[xi], and the output transform A^T M A fused with the epilogue.
// Everything is vectorised over 16 channels; included by the Winograd paths
// (cell_conv_winograd_plan.h) and only called after the ISA check, from functions with
// the same or a wider target attribute.
#pragma once

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define FALSR_WINO_HAS_X86 1
#define FALSR_WINO_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define FALSR_WINO_INLINE inline __attribute__((always_inline))
#else
#define FALSR_WINO_HAS_X86 0
#endif

#include <cstdint>

#include "core/activation.h"

#if FALSR_WINO_HAS_X86

namespace falsr::core::winograd {

// All lanes. The element-wise helpers below use the maskz forms with it: GCC 12 -Wall
// flags the unmasked forms' undefined pass-through operand as maybe-uninitialized.
constexpr __mmask16 kAll = 0xffff;

// ---------------------------------------------------------------------------------
// Input transform of one 4x4 tile, 16 channels. rows[i] points at the tile's first
// pixel in window row i (channel offset already applied); pixels are `cstride` floats
// apart. B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. x[xi] = (B^T d B)[xi], xi = 4i + j.
// Shared with the bf16 path, which rounds x before storing it.
// ---------------------------------------------------------------------------------
FALSR_WINO_AVX512 FALSR_WINO_INLINE void input_transform(const float* const rows[4],
                                                         int64_t cstride, __m512 x[16]) {
  __m512 w[4][4];  // w = B^T d (columns kept)
  for (int j = 0; j < 4; ++j) {
    const __m512 d0 = _mm512_loadu_ps(rows[0] + j * cstride);
    const __m512 d1 = _mm512_loadu_ps(rows[1] + j * cstride);
    const __m512 d2 = _mm512_loadu_ps(rows[2] + j * cstride);
    const __m512 d3 = _mm512_loadu_ps(rows[3] + j * cstride);
    w[0][j] = _mm512_sub_ps(d0, d2);
    w[1][j] = _mm512_add_ps(d1, d2);
    w[2][j] = _mm512_sub_ps(d2, d1);
    w[3][j] = _mm512_sub_ps(d1, d3);
  }
  for (int i = 0; i < 4; ++i) {
    x[4 * i + 0] = _mm512_sub_ps(w[i][0], w[i][2]);
    x[4 * i + 1] = _mm512_add_ps(w[i][1], w[i][2]);
    x[4 * i + 2] = _mm512_sub_ps(w[i][2], w[i][1]);
    x[4 * i + 3] = _mm512_sub_ps(w[i][1], w[i][3]);
  }
}

// The fp32 V: x[xi] stored at v + xi * vstride.
FALSR_WINO_AVX512 FALSR_WINO_INLINE void input_tile(const float* const rows[4], int64_t cstride,
                                                    float* v, int64_t vstride) {
  __m512 x[16];
  input_transform(rows, cstride, x);
  for (int xi = 0; xi < 16; ++xi) _mm512_storeu_ps(v + xi * vstride, x[xi]);
}

// ---------------------------------------------------------------------------------
// The MT x NV accumulators of a GEMM microkernel (this one's and the bf16 path's):
// loaded from m (accumulate: later channel chunks) or zeroed, and stored back.
// ---------------------------------------------------------------------------------
template <int MT, int NV>
FALSR_WINO_AVX512 FALSR_WINO_INLINE void load_accumulators(__m512 acc[MT][NV], const float* m,
                                                           int64_t ldm, bool accumulate) {
#pragma GCC unroll 32
  for (int t = 0; t < MT; ++t) {
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) {
      acc[t][q] = accumulate ? _mm512_loadu_ps(m + t * ldm + 16 * q) : _mm512_setzero_ps();
    }
  }
}

template <int MT, int NV>
FALSR_WINO_AVX512 FALSR_WINO_INLINE void store_accumulators(const __m512 acc[MT][NV], float* m,
                                                            int64_t ldm) {
#pragma GCC unroll 32
  for (int t = 0; t < MT; ++t) {
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) _mm512_storeu_ps(m + t * ldm + 16 * q, acc[t][q]);
  }
}

// ---------------------------------------------------------------------------------
// GEMM microkernel: m[t][16 NV couts] = sum_k v[t][k] * u[k][16 NV couts] for MT tiles.
// MT x NV accumulators stay in registers (<= 24 of the 32 zmm); v is broadcast, u loaded.
// The caller splits k so that the u panel (k_count x 16 NV floats) stays in L1.
// ---------------------------------------------------------------------------------
// accumulate: m += instead of m = (for the second and later blocks of k).
template <int MT, int NV>
FALSR_WINO_AVX512 void gemm_micro(const float* v, int64_t ldv, const float* u, int64_t ldu,
                                  int64_t k_count, float* m, int64_t ldm, bool accumulate) {
  __m512 acc[MT][NV];
  load_accumulators<MT, NV>(acc, m, ldm, accumulate);
  for (int64_t k = 0; k < k_count; ++k) {
    __m512 b[NV];
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) b[q] = _mm512_loadu_ps(u + k * ldu + 16 * q);
#pragma GCC unroll 32
    for (int t = 0; t < MT; ++t) {
      const __m512 a = _mm512_set1_ps(v[t * ldv + k]);
#pragma GCC unroll 4
      for (int q = 0; q < NV; ++q) acc[t][q] = _mm512_fmadd_ps(a, b[q], acc[t][q]);
    }
  }
  store_accumulators<MT, NV>(acc, m, ldm);
}

// ---------------------------------------------------------------------------------
// Output side: A^T = [1 1 1 0; 0 1 -1 -1]; y = A^T M A is the 2x2 output block.
// ---------------------------------------------------------------------------------
FALSR_WINO_AVX512 FALSR_WINO_INLINE void output_tile(const float* m, int64_t mstride,
                                                     __m512 y[2][2]) {
  __m512 t[2][4];  // t = A^T M
  for (int j = 0; j < 4; ++j) {
    const __m512 m0 = _mm512_loadu_ps(m + (0 + j) * mstride);
    const __m512 m1 = _mm512_loadu_ps(m + (4 + j) * mstride);
    const __m512 m2 = _mm512_loadu_ps(m + (8 + j) * mstride);
    const __m512 m3 = _mm512_loadu_ps(m + (12 + j) * mstride);
    t[0][j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
    t[1][j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
  }
  for (int i = 0; i < 2; ++i) {
    y[i][0] = _mm512_add_ps(_mm512_add_ps(t[i][0], t[i][1]), t[i][2]);
    y[i][1] = _mm512_sub_ps(_mm512_sub_ps(t[i][1], t[i][2]), t[i][3]);
  }
}

// 16 channels (masked) of a plane, as fp32.
FALSR_WINO_AVX512 FALSR_WINO_INLINE __m512 load_channels(const void* base, DType dtype,
                                                         int64_t offset, __mmask16 mask) {
  if (dtype == DType::F32) {
    return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(base) + offset);
  }
  const __m256i h =
      _mm256_maskz_loadu_epi16(mask, static_cast<const uint16_t*>(base) + offset);
  const __m512i wide = _mm512_maskz_cvtepu16_epi32(kAll, h);
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, wide, 16));
}

// Stores 16 channels (masked), bf16 rounded to nearest even exactly as float_to_bf16.
FALSR_WINO_AVX512 FALSR_WINO_INLINE void store_channels(void* base, DType dtype, int64_t offset,
                                                        __mmask16 mask, __m512 value) {
  if (dtype == DType::F32) {
    _mm512_mask_storeu_ps(static_cast<float*>(base) + offset, mask, value);
    return;
  }
  const __m512i u = _mm512_castps_si512(value);
  const __m512i high = _mm512_maskz_srli_epi32(kAll, u, 16);
  const __m512i lsb = _mm512_and_si512(high, _mm512_set1_epi32(1));
  __m512i r = _mm512_maskz_srli_epi32(
      kAll, _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(value, value, _CMP_UNORD_Q);
  r = _mm512_mask_or_epi32(r, nan, high, _mm512_set1_epi32(0x40));
  _mm256_mask_storeu_epi16(static_cast<uint16_t*>(base) + offset, mask,
                           _mm512_maskz_cvtepi32_epi16(kAll, r));
}

}  // namespace falsr::core::winograd

#endif  // FALSR_WINO_HAS_X86
