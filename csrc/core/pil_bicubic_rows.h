// The row machinery of the Pillow-exact bicubic upscale (internal to csrc/core): for each
// block of output rows, the horizontal pass of the LR rows the block reads, then the
// vertical pass of each output row into planar channel rows handed to `emit`. Templated
// so the callers (plain resize, fused colour recomposition) inline it into their
// per-ISA entry points.
//
// Include this header FIRST in a .cpp: it turns floating-point contraction off for the
// translation unit. Pillow's float path does separate multiplies and adds; fused
// multiply-adds (allowed by the AVX2/AVX-512 targets) would change the last bit.
#pragma once

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/pil_bicubic.h"

#define FALSR_PIL_INLINE inline __attribute__((always_inline))
#if defined(__x86_64__)
#define FALSR_PIL_AVX2 __attribute__((target("avx2")))
#define FALSR_PIL_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2")))
#else  // no x86 targets (aarch64): the per-ISA copies are plain code, never dispatched to
#define FALSR_PIL_AVX2
#define FALSR_PIL_AVX512
#endif

namespace falsr::core {

// Pillow's clip8: drop the 22 fraction bits (the rounding half was added up front), saturate.
FALSR_PIL_INLINE uint8_t pil_clip8(int32_t ss) {
  const int32_t v = ss >> 22;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// np.clip(v, 0, 1): NaN stays NaN.
FALSR_PIL_INLINE float clip_unit_f32(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

// The 4-tap interior of a horizontal pass (restrict parameters: lets the compiler gather).
template <class T, class Line, class Acc>
FALSR_PIL_INLINE void pil_horizontal_interior(const Line* __restrict src, T* __restrict hrow,
                                              const int32_t* __restrict ix,
                                              const Acc* __restrict k, int64_t w, int64_t xa,
                                              int64_t xb, bool clip_unit) {
  const Acc* __restrict k0 = k;
  const Acc* __restrict k1 = k + w;
  const Acc* __restrict k2 = k + 2 * w;
  const Acc* __restrict k3 = k + 3 * w;
  for (int64_t x = xa; x < xb; ++x) {
    const int32_t i = ix[x];
    if constexpr (std::is_same_v<T, uint8_t>) {
      int32_t ss = 1 << 21;
      ss += src[i] * k0[x];
      ss += src[i + 1] * k1[x];
      ss += src[i + 2] * k2[x];
      ss += src[i + 3] * k3[x];
      hrow[x] = pil_clip8(ss);
    } else {  // Pillow's order: ((0 + p0) + p1) + p2 + p3
      const double p0 = static_cast<double>(src[i]) * k0[x];
      const double p1 = static_cast<double>(src[i + 1]) * k1[x];
      const double p2 = static_cast<double>(src[i + 2]) * k2[x];
      const double p3 = static_cast<double>(src[i + 3]) * k3[x];
      double ss = 0.0;
      ss += p0;
      ss += p1;
      ss += p2;
      ss += p3;
      const float v = static_cast<float>(ss);
      hrow[x] = clip_unit ? clip_unit_f32(v) : v;
    }
  }
}

// One output sample of a pass: taps k[0..n) over in[0..n), Pillow's arithmetic.
template <class T>
FALSR_PIL_INLINE T pil_tap_sum(const T* in, const int32_t* k8, const double* k, int64_t taps,
                               bool clip_unit) {
  if constexpr (std::is_same_v<T, uint8_t>) {
    int32_t ss = 1 << 21;  // Pillow's rounding term, 1 << (PRECISION_BITS - 1)
    for (int64_t t = 0; t < taps; ++t) {
      ss += static_cast<int32_t>(in[t]) * k8[t];
    }
    return pil_clip8(ss);
  } else {
    double ss = 0.0;
    for (int64_t t = 0; t < taps; ++t) {
      const double prod = static_cast<double>(in[t]) * k[t];
      ss += prod;
    }
    const float v = static_cast<float>(ss);
    return clip_unit ? clip_unit_f32(v) : v;
  }
}

// T = uint8_t (Pillow 8-bit) or float (mode "F"). load(y, x, ch) returns the source
// sample as T; emit(row, planes) gets output row `row` of the window as c planar rows
// of out_w samples each (planes + ch * out_w).
template <class T, class Load, class Emit>
FALSR_PIL_INLINE void pil_rows(const PilUpscale& p, const Load& load, bool clip_unit,
                               const Emit& emit, int64_t task_begin, int64_t task_end) {
  static_assert(std::is_same_v<T, uint8_t> || std::is_same_v<T, float>);
  constexpr bool kU8 = std::is_same_v<T, uint8_t>;
  using Acc = std::conditional_t<kU8, int32_t, double>;
  const int64_t w = p.out_w, c = p.c, hk = p.cols.ksize, vk = p.rows.ksize;
  // Local restrict pointers: uint8_t stores may alias anything, which would otherwise
  // make the compiler reload every table after each store and give up vectorising.
  const int64_t* __restrict cstart = p.cols.start.data();
  const int64_t* __restrict ccount = p.cols.count.data();
  const int32_t* __restrict ck8 = p.cols.weight8.data();
  const double* __restrict ck = p.cols.weight.data();
  // Source columns a window reads: [x_lo, x_hi).
  const int64_t x_lo = cstart[0], x_hi = cstart[w - 1] + ccount[w - 1];
  // Away from the edges every output sample has exactly 4 taps (upscaling, support 2):
  // there the horizontal pass runs on transposed taps ([tap][x]) and gathers, so it
  // vectorises across output samples; the few edge samples take the scalar path.
  int64_t xa = 0;
  while (xa < w && ccount[xa] != 4) ++xa;
  int64_t xb = xa;
  while (xb < w && ccount[xb] == 4) ++xb;
  std::vector<int32_t> idx(w);
  std::vector<Acc> kt(4 * w);
  for (int64_t x = xa; x < xb; ++x) {
    idx[x] = static_cast<int32_t>(cstart[x] - x_lo);
    for (int t = 0; t < 4; ++t) {
      kt[t * w + x] = kU8 ? Acc(ck8[x * hk + t]) : Acc(ck[x * hk + t]);
    }
  }
  using Line = std::conditional_t<kU8, int32_t, float>;  // widened for the gathers
  std::vector<Line> line(x_hi - x_lo);  // one source row of one channel, contiguous
  std::vector<T> edge(hk);
  std::vector<T> hrows;  // horizontal pass, [LR row of the block][ch][x]
  std::vector<T> vrow(c * w);
  std::vector<Acc> acc(w);
  for (int64_t task = task_begin; task < task_end; ++task) {
    const int64_t r0 = task * kPilRowsPerTask;
    const int64_t r1 = std::min(p.out_h, r0 + kPilRowsPerTask);
    const int64_t y_first = p.rows.start[r0];
    const int64_t y_last = p.rows.start[r1 - 1] + p.rows.count[r1 - 1];
    hrows.resize((y_last - y_first) * c * w);
    for (int64_t y = y_first; y < y_last; ++y) {
      for (int64_t ch = 0; ch < c; ++ch) {
        Line* __restrict src = line.data();
        for (int64_t x = x_lo; x < x_hi; ++x) {
          src[x - x_lo] = static_cast<Line>(load(y, x, ch));
        }
        T* __restrict hrow = &hrows[((y - y_first) * c + ch) * w];
        pil_horizontal_interior<T>(src, hrow, idx.data(), kt.data(), w, xa, xb, clip_unit);
        for (int64_t x = 0; x < w; ++x) {
          if (x == xa) {
            x = xb;  // the vectorised interior is done
            if (x >= w) break;
          }
          const int64_t n = ccount[x];
          for (int64_t t = 0; t < n; ++t) {
            edge[t] = static_cast<T>(src[cstart[x] - x_lo + t]);
          }
          hrow[x] = pil_tap_sum<T>(edge.data(), ck8 + x * hk, ck + x * hk, n, clip_unit);
        }
      }
    }
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t y0 = p.rows.start[r] - y_first, n = p.rows.count[r];
      for (int64_t ch = 0; ch < c; ++ch) {
        Acc* __restrict a = acc.data();
        T* __restrict out = &vrow[ch * w];
        for (int64_t x = 0; x < w; ++x) {
          a[x] = kU8 ? Acc(1 << 21) : Acc(0);
        }
        for (int64_t t = 0; t < n; ++t) {
          const T* __restrict in = &hrows[((y0 + t) * c + ch) * w];
          if constexpr (kU8) {
            const int32_t k = p.rows.weight8[r * vk + t];
            for (int64_t x = 0; x < w; ++x) {
              a[x] += static_cast<int32_t>(in[x]) * k;
            }
          } else {
            const double k = p.rows.weight[r * vk + t];
            for (int64_t x = 0; x < w; ++x) {
              const double prod = static_cast<double>(in[x]) * k;
              a[x] += prod;
            }
          }
        }
        for (int64_t x = 0; x < w; ++x) {
          if constexpr (kU8) {
            out[x] = pil_clip8(a[x]);
          } else {
            const float v = static_cast<float>(a[x]);
            out[x] = clip_unit ? clip_unit_f32(v) : v;
          }
        }
      }
      emit(r, vrow.data());
    }
  }
}

}  // namespace falsr::core
