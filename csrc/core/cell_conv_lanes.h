// Vector traits shared by the depthwise and grouped cell_conv paths
// (cell_conv_depthwise.cpp, cell_conv_grouped.cpp): one struct per instruction set,
// each defined inside its own `#pragma GCC target` region, so a kernel template
// compiled in the same region (see the *_kernels.inc files) inlines them and no
// instruction above the caller's max_isa() is ever executed.
//
// Each provides: L (fp32 lanes), reg, Mask (which lanes are live: mask(n) = the first n),
//   zero(), fma(a, b, c) = a * b + c, add, relu,
//   load(p, m) / store(p, m, v) for float and uint16_t (bf16 bits) memory (dead lanes
//   read as zero and are never written), loadu(p) (all L floats),
//   stream(p, v): store all L floats bypassing the cache where the ISA can (p aligned to
//   the vector size; the caller fences),
//   bcast_group<G>(p): lane l gets p[l % G] (G divides L),
//   permute(v, idx): lane l gets v[idx[l]].
#pragma once

#include <cstdint>
#include <cstring>

#include "core/activation.h"

namespace falsr::core::lanes {

// Portable 4-lane vectors (GCC/Clang vector extension: SSE on x86, NEON on ARM).
struct Generic {
  static constexpr int L = 4;
  typedef float reg __attribute__((vector_size(16)));
  using Mask = int;
  static Mask mask(int n) { return n; }
  static reg zero() { return reg{0.0f, 0.0f, 0.0f, 0.0f}; }
  static reg fma(reg a, reg b, reg c) { return a * b + c; }
  static reg add(reg a, reg b) { return a + b; }
  static reg relu(reg a) {
    for (int i = 0; i < L; ++i) a[i] = a[i] > 0.0f ? a[i] : 0.0f;
    return a;
  }
  static reg loadu(const float* p) {
    reg r;
    std::memcpy(&r, p, sizeof(r));
    return r;
  }
  static reg load(const float* p, Mask n) {
    reg r = zero();
    for (int i = 0; i < n; ++i) r[i] = p[i];
    return r;
  }
  static reg load(const uint16_t* p, Mask n) {
    reg r = zero();
    for (int i = 0; i < n; ++i) r[i] = bf16_to_float(p[i]);
    return r;
  }
  static void store(float* p, Mask n, reg v) {
    for (int i = 0; i < n; ++i) p[i] = v[i];
  }
  static void stream(float* p, reg v) { std::memcpy(p, &v, sizeof(v)); }
  static void store(uint16_t* p, Mask n, reg v) {
    for (int i = 0; i < n; ++i) p[i] = float_to_bf16(v[i]);
  }
  template <int G>
  static reg bcast_group(const float* p) {
    reg r;
    for (int i = 0; i < L; ++i) r[i] = p[i % G];
    return r;
  }
  static reg permute(reg v, const int32_t* idx) {
    return reg{v[idx[0]], v[idx[1]], v[idx[2]], v[idx[3]]};
  }
};

}  // namespace falsr::core::lanes

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "core/target.h"

FALSR_TARGET_PUSH("avx2,fma")
namespace falsr::core::lanes {

struct Avx2 {
  static constexpr int L = 8;
  using reg = __m256;
  using Mask = int;
  static Mask mask(int n) { return n; }
  static __m256i lane_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static reg zero() { return _mm256_setzero_ps(); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg relu(reg a) { return _mm256_max_ps(a, _mm256_setzero_ps()); }
  static reg loadu(const float* p) { return _mm256_loadu_ps(p); }
  static reg load(const float* p, Mask n) {
    return n >= L ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask(n));
  }
  static reg load(const uint16_t* p, Mask n) {
    __m128i h;
    if (n >= L) {
      h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    } else {
      alignas(16) uint16_t tmp[8] = {};
      std::memcpy(tmp, p, sizeof(uint16_t) * static_cast<size_t>(n));
      h = _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
    }
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static void stream(float* p, reg v) { _mm256_stream_ps(p, v); }
  static void store(float* p, Mask n, reg v) {
    if (n >= L) {
      _mm256_storeu_ps(p, v);
    } else {
      _mm256_maskstore_ps(p, lane_mask(n), v);
    }
  }
  static void store(uint16_t* p, Mask n, reg v) {
    // Round to nearest even (as float_to_bf16), NaN kept NaN (quiet bit set).
    const __m256i u = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i rounded =
        _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    const __m256i r = _mm256_blendv_epi8(rounded, quiet, nan);
    // 32-bit lanes (< 0x10000) -> 16-bit: packus works per 128-bit half, then reorder.
    const __m128i h =
        _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08));
    if (n >= L) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), h);
    } else {
      alignas(16) uint16_t tmp[8];
      _mm_store_si128(reinterpret_cast<__m128i*>(tmp), h);
      std::memcpy(p, tmp, sizeof(uint16_t) * static_cast<size_t>(n));
    }
  }
  template <int G>
  static reg bcast_group(const float* p) {
    static_assert(G == 2 || G == 4 || G == 8, "G divides 8");
    if constexpr (G == 2) {
      double d;
      std::memcpy(&d, p, sizeof(d));
      return _mm256_castpd_ps(_mm256_set1_pd(d));
    } else if constexpr (G == 4) {
      return _mm256_broadcast_ps(reinterpret_cast<const __m128*>(p));
    } else {
      return _mm256_loadu_ps(p);
    }
  }
  static reg permute(reg v, const int32_t* idx) {
    return _mm256_permutevar8x32_ps(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx)));
  }
};

}  // namespace falsr::core::lanes
FALSR_TARGET_POP

FALSR_TARGET_PUSH("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
// GCC 12 flags the intrinsics' own _mm512_undefined_* placeholders (a known false positive).
#pragma GCC diagnostic push
FALSR_IGNORE_MAYBE_UNINITIALIZED
#pragma GCC diagnostic ignored "-Wuninitialized"
namespace falsr::core::lanes {

struct Avx512 {
  static constexpr int L = 16;
  using reg = __m512;
  using Mask = __mmask16;
  static Mask mask(int n) {
    return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1u);
  }
  static reg zero() { return _mm512_setzero_ps(); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg relu(reg a) { return _mm512_max_ps(a, _mm512_setzero_ps()); }
  static reg loadu(const float* p) { return _mm512_loadu_ps(p); }
  static reg load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static reg load(const uint16_t* p, Mask m) {
    const __m256i h = _mm256_maskz_loadu_epi16(m, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static void store(float* p, Mask m, reg v) { _mm512_mask_storeu_ps(p, m, v); }
  static void stream(float* p, reg v) { _mm512_stream_ps(p, v); }
  static void store(uint16_t* p, Mask m, reg v) {
    // Round to nearest even (as float_to_bf16), NaN kept NaN (quiet bit set).
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i rounded =
        _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    const __m512i r = _mm512_mask_mov_epi32(rounded, nan, quiet);
    _mm256_mask_storeu_epi16(p, m, _mm512_cvtepi32_epi16(r));
  }
  template <int G>
  static reg bcast_group(const float* p) {
    static_assert(G == 2 || G == 4 || G == 8 || G == 16, "G divides 16");
    if constexpr (G == 2) {
      double d;
      std::memcpy(&d, p, sizeof(d));
      return _mm512_castpd_ps(_mm512_set1_pd(d));
    } else if constexpr (G == 4) {
      return _mm512_broadcast_f32x4(_mm_loadu_ps(p));
    } else if constexpr (G == 8) {
      return _mm512_broadcast_f32x8(_mm256_loadu_ps(p));
    } else {
      return _mm512_loadu_ps(p);
    }
  }
  static reg permute(reg v, const int32_t* idx) {
    return _mm512_permutexvar_ps(_mm512_loadu_si512(idx), v);
  }
};

}  // namespace falsr::core::lanes
#pragma GCC diagnostic pop
FALSR_TARGET_POP

#endif
