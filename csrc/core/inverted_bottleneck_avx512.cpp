// The AVX-512 copy of the fused inverted-bottleneck kernels (16 floats per register,
// 32 registers: pixel blocks up to 12 x 1..4 channel registers).
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/activation.h"
#include "core/inverted_bottleneck.h"
#include "core/inverted_bottleneck_layout.h"
#include "core/target.h"

#if defined(__x86_64__)
#include <immintrin.h>

FALSR_TARGET_PUSH("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
// GCC 12 flags the deliberately undefined pass-through operand inside _mm512_max_ps.
#pragma GCC diagnostic ignored "-Wuninitialized"
FALSR_IGNORE_MAYBE_UNINITIALIZED

namespace falsr::core::ib {

struct Vec512 {
  using reg = __m512;
  static constexpr int L = 16;
  static constexpr int kMaxNr = 4;
  // acc registers mr * nr <= 24, + nr weights: fits in 32 zmm (broadcasts fold into the FMA).
  static constexpr int mr(int nr) { return nr <= 2 ? 12 : nr == 3 ? 8 : 6; }
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
  static __m512 bcast(const float* p) { return _mm512_set1_ps(*p); }
  static __m512 fma(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
  static __m512 relu(__m512 v) { return _mm512_max_ps(_mm512_setzero_ps(), v); }  // NaN stays NaN
};

}  // namespace falsr::core::ib

#include "core/inverted_bottleneck_kernels.h"

namespace falsr::core::ib {

void run_tasks_avx512(const InvertedBottleneckArgs& a, const Packed& p, const Geometry& g,
                      float* workspace, int64_t begin, int64_t end) {
  run_tasks_with<Vec512>(a, p, g, workspace, begin, end);
}

}  // namespace falsr::core::ib

FALSR_TARGET_POP
#endif
