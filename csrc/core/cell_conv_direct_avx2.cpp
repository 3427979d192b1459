// AVX2 + FMA build of the direct cell_conv row kernels (cell_conv_direct_row.inc): 8 fp32
// lanes, tiles of up to 6 pixels x 16 output channels (12 ymm accumulators of the 16).
// Compiled with a function-level target (no -m flags), run only when max_isa() >= Avx2.
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "core/cell_conv_direct.h"
#include "core/target.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

FALSR_TARGET_PUSH("avx2,fma")

namespace falsr::core::direct {
namespace {

struct Avx2Vec {
  static constexpr int L = 8;
  static constexpr int kMaxNV = 2;
  static constexpr int kDwPixels = 4;  // 4 accumulators + 6 inputs + 1 weight
  static constexpr int pixels(int nv) { return nv == 2 ? 6 : 12; }
  using reg = __m256;
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg permute(reg v, const int32_t* idx) {
    return _mm256_permutevar8x32_ps(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx)));
  }
  static reg bcast(float f) { return _mm256_set1_ps(f); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg relu(reg a) { return _mm256_max_ps(a, _mm256_setzero_ps()); }
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static reg load_io(const void* base, DType dt, int64_t idx, int n) {
    if (dt == DType::F32) {
      const float* p = static_cast<const float*>(base) + idx;
      return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask(n));
    }
    const uint16_t* p = static_cast<const uint16_t*>(base) + idx;
    __m128i h;
    if (n >= 8) {
      h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    } else {
      alignas(16) uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int i = 0; i < n; ++i) tmp[i] = p[i];
      h = _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
    }
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static void store_io(void* base, DType dt, int64_t idx, int n, reg v) {
    if (dt == DType::F32) {
      float* p = static_cast<float*>(base) + idx;
      if (n >= 8) {
        _mm256_storeu_ps(p, v);
      } else {
        _mm256_maskstore_ps(p, mask(n), v);
      }
      return;
    }
    // Round to nearest even (as float_to_bf16), NaN kept NaN (quiet bit set).
    const __m256i u = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i rounded =
        _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    const __m256i r = _mm256_blendv_epi8(rounded, quiet, nan);
    // 32-bit lanes (< 0x10000) -> 16-bit: packus works per 128-bit half, then reorder.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    const __m128i h = _mm256_castsi256_si128(packed);
    uint16_t* p = static_cast<uint16_t*>(base) + idx;
    if (n >= 8) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), h);
    } else {
      alignas(16) uint16_t tmp[8];
      _mm_store_si128(reinterpret_cast<__m128i*>(tmp), h);
      for (int i = 0; i < n; ++i) p[i] = tmp[i];
    }
  }
};

#include "core/cell_conv_direct_row.inc"

}  // namespace

Kernels kernels_avx2() { return {&conv_row<Avx2Vec>, &spread_row<Avx2Vec>, Avx2Vec::L}; }

}  // namespace falsr::core::direct

FALSR_TARGET_POP

#else

namespace falsr::core::direct {
Kernels kernels_avx2() { return {}; }
}  // namespace falsr::core::direct

#endif
