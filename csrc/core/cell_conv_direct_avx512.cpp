// AVX-512 build of the direct cell_conv row kernels (cell_conv_direct_row.inc): 16 fp32
// lanes, tiles of up to 6 pixels x 64 output channels (24 zmm accumulators). Compiled
// with a function-level target (no -m flags), run only when max_isa() >= Avx512.
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "core/cell_conv_direct.h"
#include "core/target.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

FALSR_TARGET_PUSH("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
// GCC 12 flags the intrinsics' own _mm512_undefined_* placeholders (a known false positive).
FALSR_IGNORE_MAYBE_UNINITIALIZED

namespace falsr::core::direct {
namespace {

struct Avx512Vec {
  static constexpr int L = 16;
  static constexpr int kMaxNV = 4;
  static constexpr int kDwPixels = 8;
  // Accumulators: 6x4, 8x3, 12x2, 16x1 zmm (<= 24 of the 32 registers).
  static constexpr int pixels(int nv) { return nv == 4 ? 6 : nv == 3 ? 8 : nv == 2 ? 12 : 16; }
  using reg = __m512;
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg permute(reg v, const int32_t* idx) {
    return _mm512_permutexvar_ps(_mm512_loadu_si512(idx), v);
  }
  static reg bcast(float f) { return _mm512_set1_ps(f); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg relu(reg a) { return _mm512_max_ps(a, _mm512_setzero_ps()); }
  static __mmask16 mask(int n) {
    return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1u);
  }
  static reg load_io(const void* base, DType dt, int64_t idx, int n) {
    const __mmask16 m = mask(n);
    if (dt == DType::F32) return _mm512_maskz_loadu_ps(m, static_cast<const float*>(base) + idx);
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(base) + idx);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static void store_io(void* base, DType dt, int64_t idx, int n, reg v) {
    const __mmask16 m = mask(n);
    if (dt == DType::F32) {
      _mm512_mask_storeu_ps(static_cast<float*>(base) + idx, m, v);
      return;
    }
    // Round to nearest even (as float_to_bf16), NaN kept NaN (quiet bit set).
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i rounded =
        _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    const __m512i r = _mm512_mask_mov_epi32(rounded, nan, quiet);
    _mm256_mask_storeu_epi16(static_cast<uint16_t*>(base) + idx, m, _mm512_cvtepi32_epi16(r));
  }
};

#include "core/cell_conv_direct_row.inc"

}  // namespace

Kernels kernels_avx512() { return {&conv_row<Avx512Vec>, &spread_row<Avx512Vec>, Avx512Vec::L}; }

}  // namespace falsr::core::direct

FALSR_TARGET_POP

#else

namespace falsr::core::direct {
Kernels kernels_avx512() { return {}; }
}  // namespace falsr::core::direct

#endif
