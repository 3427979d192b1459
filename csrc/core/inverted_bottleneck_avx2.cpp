// The AVX2 copy of the fused inverted-bottleneck kernels (8 floats per register,
// 16 registers: pixel blocks of 8 x 1, 6 x 2 or 4 x 3 channel registers).
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/activation.h"
#include "core/inverted_bottleneck.h"
#include "core/inverted_bottleneck_layout.h"
#include "core/target.h"

#if defined(__x86_64__)
#include <immintrin.h>

FALSR_TARGET_PUSH("avx2,fma")

namespace falsr::core::ib {

struct Vec256 {
  using reg = __m256;
  static constexpr int L = 8;
  static constexpr int kMaxNr = 3;
  // acc registers mr * nr + nr weights + 1 broadcast <= 16 ymm.
  static constexpr int mr(int nr) { return nr == 1 ? 8 : nr == 2 ? 6 : 4; }
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
  static __m256 bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static __m256 fma(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
  static __m256 relu(__m256 v) { return _mm256_max_ps(_mm256_setzero_ps(), v); }  // NaN stays NaN
};

}  // namespace falsr::core::ib

#include "core/inverted_bottleneck_kernels.h"

namespace falsr::core::ib {

void run_tasks_avx2(const InvertedBottleneckArgs& a, const Packed& p, const Geometry& g,
                    float* workspace, int64_t begin, int64_t end) {
  run_tasks_with<Vec256>(a, p, g, workspace, begin, end);
}

}  // namespace falsr::core::ib

FALSR_TARGET_POP
#endif
