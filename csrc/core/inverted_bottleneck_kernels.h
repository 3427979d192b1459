// The fused inverted-bottleneck task runner, written once over a vector type V and
// instantiated per ISA: inverted_bottleneck.cpp (generic, V = one float),
// inverted_bottleneck_avx2.cpp and inverted_bottleneck_avx512.cpp include this header
// after `#pragma GCC target(...)` with V = __m256 / __m512 wrappers. Everything here is a
// template on V, so each ISA's copies are distinct symbols (no ODR mix-ups).
//
// V provides: reg, L (floats per reg), kMaxNr, mr(nr) (pixel block for nr regs of
// channels; divides kMaxPixelBlock), load, store, bcast, fma, relu.
//
// Per task (n, band of rows [y0, y1), tile of columns [x0, x0 + tw)) rows stream through
// three rings: x (k rows) -> h1 (3 rows) -> h2 (k rows) -> out. Columns outside the
// image are zeros in every ring, rows outside the image are all-zero rows, so the inner
// loops never test borders.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/activation.h"
#include "core/inverted_bottleneck.h"
#include "core/inverted_bottleneck_layout.h"

namespace falsr::core::ib {

// out[m][n] = act(bias[n] + sum_{ky,kx,c} rows[ky][(m + kx) * astride + c] * w[ky][kx][c][n])
// for m < mr pixels (starting at pixel m0) and nr registers of channels.
template <class V, int MR, int NR, bool kRelu>
inline void gemm_block(const float* const* rows, int64_t k, int64_t kc, int64_t astride,
                       const float* w, int64_t ldw, const float* bias, float* out,
                       int64_t ostride) {
  using R = typename V::reg;
  R acc[MR][NR];
#pragma GCC unroll 4
  for (int v = 0; v < NR; ++v) {
    const R b = V::load(bias + v * V::L);
#pragma GCC unroll 12
    for (int m = 0; m < MR; ++m) acc[m][v] = b;
  }
  for (int64_t ky = 0; ky < k; ++ky) {
    for (int64_t kx = 0; kx < k; ++kx) {
      const float* a = rows[ky] + kx * astride;
      const float* wt = w + (ky * k + kx) * kc * ldw;
      for (int64_t c = 0; c < kc; ++c) {
        R wv[NR];
#pragma GCC unroll 4
        for (int v = 0; v < NR; ++v) wv[v] = V::load(wt + c * ldw + v * V::L);
#pragma GCC unroll 12
        for (int m = 0; m < MR; ++m) {
          const R am = V::bcast(a + m * astride + c);
#pragma GCC unroll 4
          for (int v = 0; v < NR; ++v) acc[m][v] = V::fma(am, wv[v], acc[m][v]);
        }
      }
    }
  }
#pragma GCC unroll 12
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
    for (int v = 0; v < NR; ++v) {
      V::store(out + m * ostride + v * V::L, kRelu ? V::relu(acc[m][v]) : acc[m][v]);
    }
  }
}

template <class V, int NR, bool kRelu>
inline void gemm_panel(const float* const* rows, int64_t k, int64_t kc, int64_t astride,
                       const float* w, int64_t ldw, const float* bias, int64_t pixels,
                       float* out, int64_t ostride) {
  constexpr int MR = V::mr(NR);
  static_assert(kMaxPixelBlock % MR == 0, "pixel block must divide kMaxPixelBlock");
  const float* shifted[3];
  for (int64_t m0 = 0; m0 < pixels; m0 += MR) {  // may run past `pixels`: spare columns
    for (int64_t ky = 0; ky < k; ++ky) shifted[ky] = rows[ky] + m0 * astride;
    gemm_block<V, MR, NR, kRelu>(shifted, k, kc, astride, w, ldw, bias, out + m0 * ostride,
                                 ostride);
  }
}

// A row of a k x k conv as a GEMM: pixels x (k k kc) times (k k kc) x n_pad, in panels
// of up to kMaxNr registers of output channels (the panel's weights stay in cache while
// the pixels stream past).
template <class V, bool kRelu>
inline void conv_row(const float* const* rows, int64_t k, int64_t kc, int64_t astride,
                     const float* w, const float* bias, int64_t n_pad, int64_t pixels,
                     float* out) {
  for (int64_t n0 = 0; n0 < n_pad; n0 += V::kMaxNr * V::L) {
    const int64_t nr = std::min<int64_t>(V::kMaxNr, (n_pad - n0) / V::L);
    const float* wn = w + n0;
    const float* bn = bias + n0;
    float* on = out + n0;
    switch (nr) {
      case 1:
        gemm_panel<V, 1, kRelu>(rows, k, kc, astride, wn, n_pad, bn, pixels, on, n_pad);
        break;
      case 2:
        gemm_panel<V, 2, kRelu>(rows, k, kc, astride, wn, n_pad, bn, pixels, on, n_pad);
        break;
      case 3:
        gemm_panel<V, 3, kRelu>(rows, k, kc, astride, wn, n_pad, bn, pixels, on, n_pad);
        break;
      default:
        if constexpr (V::kMaxNr >= 4) {
          gemm_panel<V, 4, kRelu>(rows, k, kc, astride, wn, n_pad, bn, pixels, on, n_pad);
        }
        break;
    }
  }
}

// h2[i][c] = ReLU(b[c] + sum_{dy,dx} h1_dy[(i + dx)][c] * w[dy][dx][c]), i < cols.
// A sliding window over the columns: each h1 value is loaded once per channel vector.
template <class V>
inline void depthwise_row(const float* r0, const float* r1, const float* r2, int64_t cols,
                          int64_t c_pad, const float* w, const float* bias, float* out) {
  using R = typename V::reg;
  for (int64_t c0 = 0; c0 < c_pad; c0 += V::L) {
    R wk[9];
    for (int t = 0; t < 9; ++t) wk[t] = V::load(w + t * c_pad + c0);
    const R b = V::load(bias + c0);
    const float* a0 = r0 + c0;
    const float* a1 = r1 + c0;
    const float* a2 = r2 + c0;
    R p0 = V::load(a0), p1 = V::load(a1), p2 = V::load(a2);  // column i
    R q0 = V::load(a0 + c_pad), q1 = V::load(a1 + c_pad), q2 = V::load(a2 + c_pad);  // i + 1
    for (int64_t i = 0; i < cols; ++i) {
      const int64_t o = (i + 2) * c_pad;
      const R n0 = V::load(a0 + o), n1 = V::load(a1 + o), n2 = V::load(a2 + o);
      R acc = V::fma(p0, wk[0], b);  // one chain: fewest FP ops; pixels overlap out of order
      acc = V::fma(q0, wk[1], acc);
      acc = V::fma(n0, wk[2], acc);
      acc = V::fma(p1, wk[3], acc);
      acc = V::fma(q1, wk[4], acc);
      acc = V::fma(n1, wk[5], acc);
      acc = V::fma(p2, wk[6], acc);
      acc = V::fma(q2, wk[7], acc);
      acc = V::fma(n2, wk[8], acc);
      V::store(out + i * c_pad + c0, V::relu(acc));
      p0 = q0, p1 = q1, p2 = q2;
      q0 = n0, q1 = n1, q2 = n2;
    }
  }
}

template <class V>
inline float to_float(float v) {
  return v;
}
template <class V>
inline float to_float(uint16_t v) {
  return bf16_to_float(v);
}
template <class V, class T>
inline T from_float(float v) {
  if constexpr (sizeof(T) == 4) {
    return v;
  } else {
    return float_to_bf16(v);
  }
}

// dst[q * f + c] = plane[n, y, x_first + q, c] for q < cols, zero outside the image.
template <class V>
inline void gather_x_row(const Plane& p, const InvertedBottleneckArgs& a, int64_t n,
                         int64_t y, int64_t x_first, int64_t cols, float* dst) {
  const int64_t f = a.filters;
  if (y < 0 || y >= a.height) {
    std::memset(dst, 0, sizeof(float) * cols * f);
    return;
  }
  const int64_t q_lo = std::clamp<int64_t>(-x_first, 0, cols);
  const int64_t q_hi = std::clamp<int64_t>(a.width - x_first, q_lo, cols);
  std::memset(dst, 0, sizeof(float) * q_lo * f);
  std::memset(dst + q_hi * f, 0, sizeof(float) * (cols - q_hi) * f);
  const int64_t base = ((n * a.height + y) * a.width + x_first) * p.pixel_stride;
  if (p.dtype == DType::F32) {
    const float* s = static_cast<const float*>(p.data) + base;
    if (p.pixel_stride == f) {  // dense: one copy
      std::memcpy(dst + q_lo * f, s + q_lo * f, sizeof(float) * (q_hi - q_lo) * f);
      return;
    }
    for (int64_t q = q_lo; q < q_hi; ++q) {
      std::memcpy(dst + q * f, s + q * p.pixel_stride, sizeof(float) * f);
    }
  } else {
    const uint16_t* s = static_cast<const uint16_t*>(p.data) + base;
    for (int64_t q = q_lo; q < q_hi; ++q) {
      for (int64_t c = 0; c < f; ++c) dst[q * f + c] = to_float<V>(s[q * p.pixel_stride + c]);
    }
  }
}

// out[pixel + q, c] = acc[q * f_pad + c] + x[pixel + q, c] (+ extra[pixel + q, c]),
// one pass per output row, typed so the loop vectorises.
template <class V, class TX, class TE, class TO, bool kExtra>
inline void finish_row_typed(const float* acc, int64_t f_pad, const InvertedBottleneckArgs& a,
                             int64_t pixel, int64_t cols) {
  const int64_t f = a.filters;
  const int64_t xs = a.x.pixel_stride, es = a.extra_residual.pixel_stride,
                os = a.out.pixel_stride;
  const TX* xp = static_cast<const TX*>(a.x.data) + pixel * xs;
  const TE* ep = kExtra ? static_cast<const TE*>(a.extra_residual.data) + pixel * es : nullptr;
  TO* op = static_cast<TO*>(a.out.data) + pixel * os;
  for (int64_t q = 0; q < cols; ++q) {
    const float* aq = acc + q * f_pad;
    const TX* xq = xp + q * xs;
    TO* oq = op + q * os;
    if constexpr (kExtra) {
      const TE* eq = ep + q * es;
      for (int64_t c = 0; c < f; ++c) {
        oq[c] = from_float<V, TO>(aq[c] + to_float<V>(xq[c]) + to_float<V>(eq[c]));
      }
    } else {
      for (int64_t c = 0; c < f; ++c) oq[c] = from_float<V, TO>(aq[c] + to_float<V>(xq[c]));
    }
  }
}

template <class V, class TX, class TO>
inline void finish_row_xo(const float* acc, int64_t f_pad, const InvertedBottleneckArgs& a,
                          int64_t pixel, int64_t cols) {
  if (!a.has_extra_residual) {
    finish_row_typed<V, TX, float, TO, false>(acc, f_pad, a, pixel, cols);
  } else if (a.extra_residual.dtype == DType::F32) {
    finish_row_typed<V, TX, float, TO, true>(acc, f_pad, a, pixel, cols);
  } else {
    finish_row_typed<V, TX, uint16_t, TO, true>(acc, f_pad, a, pixel, cols);
  }
}

template <class V>
inline void finish_row(const float* acc, int64_t f_pad, const InvertedBottleneckArgs& a,
                       int64_t pixel, int64_t cols) {
  const bool x32 = a.x.dtype == DType::F32, o32 = a.out.dtype == DType::F32;
  if (x32 && o32) finish_row_xo<V, float, float>(acc, f_pad, a, pixel, cols);
  if (x32 && !o32) finish_row_xo<V, float, uint16_t>(acc, f_pad, a, pixel, cols);
  if (!x32 && o32) finish_row_xo<V, uint16_t, float>(acc, f_pad, a, pixel, cols);
  if (!x32 && !o32) finish_row_xo<V, uint16_t, uint16_t>(acc, f_pad, a, pixel, cols);
}

template <class V>
void run_task(const InvertedBottleneckArgs& a, const Packed& p, const Geometry& g, float* ws,
              int64_t task) {
  const int64_t per_image = g.bands * g.tiles;
  const int64_t n = task / per_image;
  const int64_t band = task % per_image / g.tiles;
  const int64_t tile = task % g.tiles;
  const int64_t y0 = band * g.band_rows;
  const int64_t y1 = std::min(a.height, y0 + g.band_rows);
  const int64_t x0 = tile * g.tile_cols;
  const int64_t tw = std::min(a.width - x0, g.tile_cols);
  if (y0 >= y1 || tw <= 0) return;
  const int64_t k = g.k, pad = g.pad, f = g.f, wp = g.wide_pad;
  const int64_t h2_cols = tw + 2 * pad, h1_cols = h2_cols + 2, x_cols = h1_cols + 2 * pad;

  float* x_ring = ws;
  float* h1_ring = x_ring + k * g.x_row;
  float* h2_ring = h1_ring + 3 * g.h1_row;
  float* out_row = h2_ring + k * g.h2_row;
  auto slot = [](int64_t row, int64_t size) { return ((row % size) + size) % size; };
  auto x_at = [&](int64_t r) { return x_ring + slot(r, k) * g.x_row; };
  auto h1_at = [&](int64_t r) { return h1_ring + slot(r, 3) * g.h1_row; };
  auto h2_at = [&](int64_t r) { return h2_ring + slot(r, k) * g.h2_row; };

  // In-image column ranges of the h1 and h2 rows (image column = first + index).
  const int64_t h1_first = x0 - pad - 1, h2_first = x0 - pad;
  const int64_t h1_lo = std::clamp<int64_t>(-h1_first, 0, h1_cols);
  const int64_t h1_hi = std::clamp<int64_t>(a.width - h1_first, h1_lo, h1_cols);
  const int64_t h2_lo = std::clamp<int64_t>(-h2_first, 0, h2_cols);
  const int64_t h2_hi = std::clamp<int64_t>(a.width - h2_first, h2_lo, h2_cols);

  int64_t next_x = y0 - 2 * pad - 1, next_h1 = y0 - pad - 1, next_h2 = y0 - pad;
  const float* rows[3];
  for (int64_t y = y0; y < y1; ++y) {
    for (; next_h2 <= y + pad; ++next_h2) {
      const int64_t r2 = next_h2;
      for (; next_h1 <= r2 + 1; ++next_h1) {
        const int64_t r1 = next_h1;
        for (; next_x <= r1 + pad; ++next_x) {
          gather_x_row<V>(a.x, a, n, next_x, x0 - 2 * pad - 1, x_cols, x_at(next_x));
        }
        float* h1 = h1_at(r1);
        if (r1 < 0 || r1 >= a.height) {
          std::memset(h1, 0, sizeof(float) * g.h1_row);
          continue;
        }
        for (int64_t ky = 0; ky < k; ++ky) rows[ky] = x_at(r1 - pad + ky);
        conv_row<V, true>(rows, k, f, f, p.expand, p.expand_bias, wp, h1_cols, h1);
        std::memset(h1, 0, sizeof(float) * h1_lo * wp);
        std::memset(h1 + h1_hi * wp, 0, sizeof(float) * (h1_cols - h1_hi) * wp);
      }
      float* h2 = h2_at(r2);
      if (r2 < 0 || r2 >= a.height) {
        std::memset(h2, 0, sizeof(float) * g.h2_row);
        continue;
      }
      depthwise_row<V>(h1_at(r2 - 1), h1_at(r2), h1_at(r2 + 1), h2_cols, wp, p.dw, p.dw_bias,
                       h2);
      std::memset(h2, 0, sizeof(float) * h2_lo * wp);
      std::memset(h2 + h2_hi * wp, 0, sizeof(float) * (h2_cols - h2_hi) * wp);
    }
    for (int64_t ky = 0; ky < k; ++ky) rows[ky] = h2_at(y - pad + ky);
    conv_row<V, false>(rows, k, g.wide, wp, p.project, p.project_bias, g.f_pad, tw, out_row);
    const int64_t pixel = (n * a.height + y) * a.width + x0;
    finish_row<V>(out_row, g.f_pad, a, pixel, tw);
  }
}

template <class V>
void run_tasks_with(const InvertedBottleneckArgs& a, const Packed& p, const Geometry& g,
                    float* ws, int64_t begin, int64_t end) {
  // Spare columns feed only discarded results, but keep them finite (and not denormal).
  std::memset(ws, 0, sizeof(float) * g.workspace);
  for (int64_t t = begin; t < end; ++t) run_task<V>(a, p, g, ws, t);
}

}  // namespace falsr::core::ib
