// Fused residual add + sub-pixel shuffle + reconstruction conv (see subpixel_conv.h).
//
// Scheme (per task = one image n and a block of output rows [y0, y1)):
//  - a ring of k HR rows, each [C][Wo + 2p] fp32 (p = k/2; the p columns on each side
//    stay zero = conv2d's zero padding; rows outside [0, Ho) are all zero);
//  - HR row y is gathered from LR row y/s, sub-row i = y%s: for every channel c and
//    sub-column j, hr[c][p + x*s + j] = x[cin(c,i,j)][y/s][x] (+ residual), in fp32.
//    Each LR element is read once per task (plus the k-1 halo rows of the block);
//  - each output row: acc[co][ox] = bias[co] + sum_{c,ky,kx} w[co][c][ky][kx] *
//    hr_row[ky][c][ox + kx], in tiles of 32 output columns held in registers, Cout
//    processed in groups of up to 4 so each HR load feeds several FMAs;
//  - the fp32 row is then stored (NCHW: copied; NHWC: interleaved; bf16: rounded).
// NHWC gathers go through an NHWC-ordered HR row ([Wo][C], x + residual) and a transpose
// to the planar ring row. The whole task loop is compiled three times (generic, AVX2+FMA,
// AVX-512; the AVX-512 one adds intrinsics for the conv tile, the 8-channel transpose
// and the x2 / 8-channel NHWC gather) and picked at run time (cpu_isa(), core/isa.h),
// so the code never executes an instruction the CPU lacks. Software prefetch of the
// next LR row helps NCHW, whose 2*s*s*C short row streams defeat the hardware
// prefetcher. Memory-bound in the end: x and residual are read once (plus halos).
#include "core/subpixel_conv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/isa.h"
#include "core/parallel.h"
#include "core/shapes.h"


#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define FALSR_SPC_X86_DISPATCH 1
#define FALSR_SPC_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define FALSR_SPC_X86_DISPATCH 0
#define FALSR_SPC_ALWAYS_INLINE inline
#endif

namespace falsr::core {
namespace {

constexpr int kTile = 32;  // output columns per register tile

// ---------------------------------------------------------------------------------
// The convolution of one output row from k HR rows.
// rows[ky] points at channel 0 of HR row (oy - p + ky); channel c starts at
// rows[ky] + c * stride and holds Wo + 2p values (hr column x at index x + p).
// ---------------------------------------------------------------------------------

struct RowConv {
  const float* const* rows;
  int64_t stride;  // floats per channel in an HR row buffer (Wo + 2p)
  int64_t c_hr;
  int64_t k;
  int64_t wo;
  const float* weight;  // [Cout, C, k, k]
  const float* bias;    // [Cout] or null
};

// acc_out[co - co0][ox] for co in [co0, co0 + CO), every ox < wo.
template <int CO>
FALSR_SPC_ALWAYS_INLINE void conv_row_group(const RowConv& r, int64_t co0, float* acc_out) {
  const int64_t K = r.k;
  const int64_t C = r.c_hr;
  const int64_t wco = C * K * K;  // weight stride between output channels
  const float* w0 = r.weight + co0 * wco;
  float b[CO];
  for (int co = 0; co < CO; ++co) {
    b[co] = r.bias != nullptr ? r.bias[co0 + co] : 0.0f;
  }
  int64_t ox0 = 0;
  for (; ox0 + kTile <= r.wo; ox0 += kTile) {
    float acc[CO][kTile];
    for (int co = 0; co < CO; ++co) {
      for (int t = 0; t < kTile; ++t) {
        acc[co][t] = b[co];
      }
    }
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t ky = 0; ky < K; ++ky) {
        const float* __restrict src = r.rows[ky] + c * r.stride + ox0;
        const float* wk = w0 + (c * K + ky) * K;
        for (int64_t kx = 0; kx < K; ++kx) {
          const float* __restrict s = src + kx;
          for (int co = 0; co < CO; ++co) {
            const float wv = wk[co * wco + kx];
            for (int t = 0; t < kTile; ++t) {
              acc[co][t] += wv * s[t];
            }
          }
        }
      }
    }
    for (int co = 0; co < CO; ++co) {
      std::memcpy(acc_out + co * r.wo + ox0, acc[co], sizeof(acc[co]));
    }
  }
  // Tail columns, one at a time.
  for (int64_t ox = ox0; ox < r.wo; ++ox) {
    for (int co = 0; co < CO; ++co) {
      float a = b[co];
      const float* wc = w0 + co * wco;
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t ky = 0; ky < K; ++ky) {
          const float* src = r.rows[ky] + c * r.stride + ox;
          for (int64_t kx = 0; kx < K; ++kx) {
            a += wc[(c * K + ky) * K + kx] * src[kx];
          }
        }
      }
      acc_out[co * r.wo + ox] = a;
    }
  }
}

// All output channels, in groups of 4, 3, 2, 1.
FALSR_SPC_ALWAYS_INLINE void conv_row_body(const RowConv& r, int64_t c_out, float* acc_out) {
  int64_t co = 0;
  while (co < c_out) {
    const int64_t left = c_out - co;
    float* dst = acc_out + co * r.wo;
    if (left >= 4) {
      conv_row_group<4>(r, co, dst);
      co += 4;
    } else if (left == 3) {
      conv_row_group<3>(r, co, dst);
      co += 3;
    } else if (left == 2) {
      conv_row_group<2>(r, co, dst);
      co += 2;
    } else {
      conv_row_group<1>(r, co, dst);
      co += 1;
    }
  }
}


#if FALSR_SPC_X86_DISPATCH
// AVX-512 version of conv_row_group: accumulators in zmm registers, 32 columns per tile
// (2 vectors per output channel), the tail through the generic code.
#define FALSR_SPC_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))

template <int CO>
FALSR_SPC_AVX512 void conv_row_group_avx512(const RowConv& r, int64_t co0, float* acc_out) {
  const int64_t K = r.k;
  const int64_t C = r.c_hr;
  const int64_t wco = C * K * K;
  const float* w0 = r.weight + co0 * wco;
  __m512 b[CO];
  for (int co = 0; co < CO; ++co) {
    b[co] = _mm512_set1_ps(r.bias != nullptr ? r.bias[co0 + co] : 0.0f);
  }
  int64_t ox0 = 0;
  for (; ox0 + kTile <= r.wo; ox0 += kTile) {
    __m512 acc0[CO];
    __m512 acc1[CO];
#pragma GCC unroll 4
    for (int co = 0; co < CO; ++co) {
      acc0[co] = b[co];
      acc1[co] = b[co];
    }
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t ky = 0; ky < K; ++ky) {
        const float* src = r.rows[ky] + c * r.stride + ox0;
        const float* wk = w0 + (c * K + ky) * K;
        for (int64_t kx = 0; kx < K; ++kx) {
          const __m512 a0 = _mm512_loadu_ps(src + kx);
          const __m512 a1 = _mm512_loadu_ps(src + kx + 16);
#pragma GCC unroll 4
          for (int co = 0; co < CO; ++co) {
            const __m512 wv = _mm512_set1_ps(wk[co * wco + kx]);
            acc0[co] = _mm512_fmadd_ps(wv, a0, acc0[co]);
            acc1[co] = _mm512_fmadd_ps(wv, a1, acc1[co]);
          }
        }
      }
    }
#pragma GCC unroll 4
    for (int co = 0; co < CO; ++co) {
      _mm512_storeu_ps(acc_out + co * r.wo + ox0, acc0[co]);
      _mm512_storeu_ps(acc_out + co * r.wo + ox0 + 16, acc1[co]);
    }
  }
  if (ox0 < r.wo) {
    // Tail columns: the generic loop on a shifted view.
    for (int64_t ox = ox0; ox < r.wo; ++ox) {
      for (int co = 0; co < CO; ++co) {
        float a = r.bias != nullptr ? r.bias[co0 + co] : 0.0f;
        const float* wc = w0 + co * wco;
        for (int64_t c = 0; c < C; ++c) {
          for (int64_t ky = 0; ky < K; ++ky) {
            const float* src = r.rows[ky] + c * r.stride + ox;
            for (int64_t kx = 0; kx < K; ++kx) {
              a = std::fma(wc[(c * K + ky) * K + kx], src[kx], a);
            }
          }
        }
        acc_out[co * r.wo + ox] = a;
      }
    }
  }
}

FALSR_SPC_AVX512 void conv_row_avx512(const RowConv& r, int64_t c_out, float* acc_out) {
  int64_t co = 0;
  while (co < c_out) {
    const int64_t left = c_out - co;
    float* dst = acc_out + co * r.wo;
    if (left >= 4) {
      conv_row_group_avx512<4>(r, co, dst);
      co += 4;
    } else if (left == 3) {
      conv_row_group_avx512<3>(r, co, dst);
      co += 3;
    } else if (left == 2) {
      conv_row_group_avx512<2>(r, co, dst);
      co += 2;
    } else {
      conv_row_group_avx512<1>(r, co, dst);
      co += 1;
    }
  }
}

// [wo][8] -> [8][wo] (dst rows `stride` apart), 16 columns at a time with three stages
// of two-source permutes (24 per 128 values); the tail column by column.
FALSR_SPC_AVX512 void transpose8_avx512(const float* src, float* dst, int64_t stride,
                                        int64_t wo) {
  alignas(64) int32_t i1[2][16];
  alignas(64) int32_t i2[2][16];
  alignas(64) int32_t i3[2][16];
  for (int h = 0; h < 2; ++h) {
    for (int lane = 0; lane < 16; ++lane) {
      const int cl = lane / 4, pl = lane % 4;  // stage 1: lane = cl*4 + pl
      i1[h][lane] = (pl / 2) * 16 + (pl % 2) * 8 + 4 * h + cl;
      const int cl2 = lane / 8, p8 = lane % 8;  // stage 2: lane = cl2*8 + p8
      i2[h][lane] = (p8 / 4) * 16 + (2 * h + cl2) * 4 + p8 % 4;  // h plays e here
      i3[h][lane] = (lane / 8) * 16 + h * 8 + lane % 8;          // h plays cl2 here
    }
  }
  const __m512i s1[2] = {_mm512_load_si512(i1[0]), _mm512_load_si512(i1[1])};
  const __m512i s2[2] = {_mm512_load_si512(i2[0]), _mm512_load_si512(i2[1])};
  const __m512i s3[2] = {_mm512_load_si512(i3[0]), _mm512_load_si512(i3[1])};
  int64_t ox0 = 0;
  for (; ox0 + 16 <= wo; ox0 += 16) {
    __m512 v[8];
    for (int m = 0; m < 8; ++m) {
      v[m] = _mm512_loadu_ps(src + (ox0 + 2 * m) * 8);
    }
    __m512 x[4][2];  // [pixel quad a][channel half h]
    for (int a = 0; a < 4; ++a) {
      for (int h = 0; h < 2; ++h) {
        x[a][h] = _mm512_permutex2var_ps(v[2 * a], s1[h], v[2 * a + 1]);
      }
    }
    __m512 y[2][2][2];  // [pixel octet b][h][e]
    for (int b = 0; b < 2; ++b) {
      for (int h = 0; h < 2; ++h) {
        for (int e = 0; e < 2; ++e) {
          y[b][h][e] = _mm512_permutex2var_ps(x[2 * b][h], s2[e], x[2 * b + 1][h]);
        }
      }
    }
    for (int h = 0; h < 2; ++h) {
      for (int e = 0; e < 2; ++e) {
        for (int cl2 = 0; cl2 < 2; ++cl2) {
          const int c = 4 * h + 2 * e + cl2;
          _mm512_storeu_ps(dst + c * stride + ox0,
                           _mm512_permutex2var_ps(y[0][h][e], s3[cl2], y[1][h][e]));
        }
      }
    }
  }
  for (int64_t ox = ox0; ox < wo; ++ox) {
    for (int c = 0; c < 8; ++c) {
      dst[c * stride + ox] = src[ox * 8 + c];
    }
  }
}

// 16 bf16 values -> 16 floats (exact).
FALSR_SPC_AVX512 inline __m512 widen_bf16_avx512(const uint16_t* p16) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p16));
  // maskz forms: GCC 12's plain forms warn (-Wmaybe-uninitialized) inside its headers.
  const __m512i wide = _mm512_maskz_cvtepu16_epi32(0xFFFF, h);
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, wide, 16));
}

// NHWC, s = 2 and C = 8 (FALSR x2: 32 LR channels), either order: for each LR pixel
// the 16 values of sub-row i, in (j, c) order, are one two-source permute of its 32
// channels (x + residual summed first, in fp32). Reading whole pixels (two cache lines)
// per row also streams better than the TF order's one line of two. fp32 or bf16 rows.
template <typename T, bool kResidual>
FALSR_SPC_AVX512 void nhwc_s2c8_avx512(const T* xr, const T* rr, float* tmp, int64_t W,
                                       int64_t i, ChannelOrder order) {
  alignas(64) int32_t idx[16];
  for (int e = 0; e < 16; ++e) {
    const int j = e / 8, c = e % 8;
    idx[e] = ps_in_channel<int>(c, static_cast<int>(i), j, 2, 8, order);
  }
  const __m512i sel = _mm512_load_si512(idx);
  for (int64_t q = 0; q < W; ++q) {
    __m512 lo, hi;
    if constexpr (sizeof(T) == 4) {
      const float* px = reinterpret_cast<const float*>(xr) + q * 32;
      lo = _mm512_loadu_ps(px);
      hi = _mm512_loadu_ps(px + 16);
      if (kResidual) {
        const float* pr = reinterpret_cast<const float*>(rr) + q * 32;
        lo = _mm512_add_ps(lo, _mm512_loadu_ps(pr));
        hi = _mm512_add_ps(hi, _mm512_loadu_ps(pr + 16));
      }
    } else {
      const auto* px = reinterpret_cast<const uint16_t*>(xr) + q * 32;
      lo = widen_bf16_avx512(px);
      hi = widen_bf16_avx512(px + 16);
      if (kResidual) {
        const auto* pr = reinterpret_cast<const uint16_t*>(rr) + q * 32;
        lo = _mm512_add_ps(lo, widen_bf16_avx512(pr));
        hi = _mm512_add_ps(hi, widen_bf16_avx512(pr + 16));
      }
    }
    _mm512_storeu_ps(tmp + q * 16, _mm512_permutex2var_ps(lo, sel, hi));
  }
}
#endif

// ---------------------------------------------------------------------------------
// Gathering one HR row (all channels) from the LR tensors.
// ---------------------------------------------------------------------------------

FALSR_SPC_ALWAYS_INLINE float load(const float* p, int64_t i) { return p[i]; }
FALSR_SPC_ALWAYS_INLINE float load(const uint16_t* p, int64_t i) {
  return spc_bf16_to_float(p[i]);
}
FALSR_SPC_ALWAYS_INLINE void store(float* p, int64_t i, float v) { p[i] = v; }
FALSR_SPC_ALWAYS_INLINE void store(uint16_t* p, int64_t i, float v) {
  p[i] = spc_float_to_bf16(v);
}

template <typename T>
FALSR_SPC_ALWAYS_INLINE void prefetch_row(const T* row, int64_t count) {
#if defined(__GNUC__) || defined(__clang__)
  constexpr int64_t kLine = 64 / static_cast<int64_t>(sizeof(T));
  for (int64_t q = 0; q < count; q += kLine) {
    __builtin_prefetch(row + q, 0, 2);
  }
#else
  (void)row;
  (void)count;
#endif
}

// hr[c * stride + p + x] for x < Wo: HR row y of image n.
// NCHW, S sub-columns known at compile time: the S source rows of channel c are
// interleaved in one pass (sequential reads, sequential writes).
template <typename T, bool kResidual, int S>
FALSR_SPC_ALWAYS_INLINE void interleave_rows(const T* const* xs, const T* const* rs,
                                             float* __restrict dst, int64_t W) {
  for (int64_t q = 0; q < W; ++q) {
    for (int j = 0; j < S; ++j) {
      float v = load(xs[j], q);
      if (kResidual) v += load(rs[j], q);
      dst[q * S + j] = v;
    }
  }
}

// dst[c * stride + ox] = src[ox * CC + c], ox < wo: [wo][CC] -> [CC][wo].
template <int CC>
FALSR_SPC_ALWAYS_INLINE void transpose_to_planar(const float* __restrict src,
                                                 float* __restrict dst, int64_t stride,
                                                 int64_t wo) {
  constexpr int64_t kBlock = 16;
  int64_t ox0 = 0;
  for (; ox0 + kBlock <= wo; ox0 += kBlock) {
    for (int c = 0; c < CC; ++c) {
      float* __restrict d = dst + c * stride + ox0;
      const float* __restrict sp = src + ox0 * CC + c;
      for (int64_t t = 0; t < kBlock; ++t) {
        d[t] = sp[t * CC];
      }
    }
  }
  for (int64_t ox = ox0; ox < wo; ++ox) {
    for (int c = 0; c < CC; ++c) {
      dst[c * stride + ox] = src[ox * CC + c];
    }
  }
}

template <typename T, bool kResidual, bool kAvx512>
FALSR_SPC_ALWAYS_INLINE void gather_row(const T* __restrict x, const T* __restrict res,
                                        const SubpixelConvGeometry& g, ChannelOrder order,
                                        Layout layout, int64_t n, int64_t y,
                                        float* __restrict hr, int64_t stride, int64_t p,
                                        float* __restrict tmp) {
  const int64_t s = g.s;
  const int64_t C = g.c_hr;
  const int64_t W = g.w;
  const int64_t h = y / s;
  const int64_t i = y - h * s;
  if (layout == Layout::NCHW) {
    for (int64_t c = 0; c < C; ++c) {
      float* __restrict dst = hr + c * stride + p;
      if (s >= 2 && s <= 4) {
        const T* xs[4];
        const T* rs[4];
        for (int64_t j = 0; j < s; ++j) {
          const int64_t cin = ps_in_channel<int64_t>(c, i, j, s, C, order);
          const int64_t off = ((n * g.c_in + cin) * g.h + h) * W;
          xs[j] = x + off;
          rs[j] = kResidual ? res + off : nullptr;
          if (h + 1 < g.h) {
            // The same channels of the next LR row are read s HR rows later: NCHW gives
            // many short streams (2*s*s*C rows of W values), too many for the hardware
            // prefetcher alone.
            prefetch_row(xs[j] + W, W);
            if (kResidual) prefetch_row(rs[j] + W, W);
          }
        }
        if (s == 2) {
          interleave_rows<T, kResidual, 2>(xs, rs, dst, W);
        } else if (s == 3) {
          interleave_rows<T, kResidual, 3>(xs, rs, dst, W);
        } else {
          interleave_rows<T, kResidual, 4>(xs, rs, dst, W);
        }
        continue;
      }
      for (int64_t j = 0; j < s; ++j) {
        const int64_t cin = ps_in_channel<int64_t>(c, i, j, s, C, order);
        const int64_t off = ((n * g.c_in + cin) * g.h + h) * W;
        const T* __restrict xs = x + off;
        for (int64_t q = 0; q < W; ++q) {
          float v = load(xs, q);
          if (kResidual) v += load(res + off, q);
          dst[q * s + j] = v;
        }
      }
    }
    return;
  }
  // NHWC: first the HR row in NHWC order, tmp[(q*s + j)*C + c] (x + residual), then a
  // transpose to the planar ring row.
  const int64_t row_off = (n * g.h + h) * W * g.c_in;
  const T* __restrict xr = x + row_off;
  const T* __restrict rr = kResidual ? res + row_off : nullptr;
  const int64_t block = s * C;
  if (i == 0 && h + 1 < g.h) {
    // Next LR row (read by the next s HR rows), one long stream per tensor.
    prefetch_row(xr + W * g.c_in, W * g.c_in);
    if (kResidual) prefetch_row(rr + W * g.c_in, W * g.c_in);
  }
  bool done = false;
#if FALSR_SPC_X86_DISPATCH
  if (kAvx512 && s == 2 && C == 8) {
    nhwc_s2c8_avx512<T, kResidual>(xr, rr, tmp, W, i, order);
    done = true;
  }
#endif
  if (done) {
    // tmp is filled
  } else if (order == ChannelOrder::TF) {
    // Sub-row i is the contiguous channel range [i*s*C, (i+1)*s*C) of each LR pixel,
    // already in (j, c) order.
    for (int64_t q = 0; q < W; ++q) {
      const int64_t base = q * g.c_in + i * block;
      float* __restrict d = tmp + q * block;
      for (int64_t e = 0; e < block; ++e) {
        float v = load(xr, base + e);
        if (kResidual) v += load(rr, base + e);
        d[e] = v;
      }
    }
  } else {
    const int64_t ss = s * s;
    for (int64_t q = 0; q < W; ++q) {
      const int64_t base = q * g.c_in + i * s;
      float* __restrict d = tmp + q * block;
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t j = 0; j < s; ++j) {
          float v = load(xr, base + c * ss + j);
          if (kResidual) v += load(rr, base + c * ss + j);
          d[j * C + c] = v;
        }
      }
    }
  }
  const int64_t wo = W * s;
  switch (C) {
    case 4:
      transpose_to_planar<4>(tmp, hr + p, stride, wo);
      break;
    case 8:
#if FALSR_SPC_X86_DISPATCH
      if (kAvx512) {
        transpose8_avx512(tmp, hr + p, stride, wo);
        break;
      }
#endif
      transpose_to_planar<8>(tmp, hr + p, stride, wo);
      break;
    case 16:
      transpose_to_planar<16>(tmp, hr + p, stride, wo);
      break;
    default:
      for (int64_t ox = 0; ox < wo; ++ox) {
        for (int64_t c = 0; c < C; ++c) {
          hr[c * stride + p + ox] = tmp[ox * C + c];
        }
      }
  }
}

// ---------------------------------------------------------------------------------
// Tasks.
// ---------------------------------------------------------------------------------

template <typename T, bool kResidual, bool kAvx512>
FALSR_SPC_ALWAYS_INLINE void run_tasks_typed(const SubpixelConvArgs& a,
                                             const SubpixelConvGeometry& g, int64_t begin,
                                             int64_t end) {
  const T* x = static_cast<const T*>(a.x);
  const T* res = static_cast<const T*>(a.residual);
  T* out = static_cast<T*>(a.out);
  const int64_t K = g.k;
  const int64_t p = K / 2;
  const int64_t Ho = g.h * g.s;
  const int64_t Wo = g.w * g.s;
  const int64_t C = g.c_hr;
  const int64_t Co = g.c_out;
  const int64_t stride = Wo + 2 * p;
  const int64_t rows_per_task = subpixel_conv_rows_per_task(g);
  const int64_t blocks = (Ho + rows_per_task - 1) / rows_per_task;

  // K HR row buffers (zero columns at both ends stay zero), plus one all-zero row
  // for rows outside the image, plus the fp32 output row [Cout][Wo].
  const int64_t row_floats = C * stride;
  // plus (NHWC) the HR row in NHWC order before its transpose, [Wo][C].
  const int64_t tmp_floats = a.layout == Layout::NHWC ? Wo * C : 0;
  std::vector<float> buf(static_cast<std::size_t>(row_floats * (K + 1) + Co * Wo + tmp_floats),
                         0.0f);
  std::vector<float*> slots(static_cast<std::size_t>(K));
  for (int64_t r = 0; r < K; ++r) {
    slots[r] = buf.data() + r * row_floats;
  }
  const float* zero_row = buf.data() + K * row_floats;
  float* acc = buf.data() + (K + 1) * row_floats;
  float* tmp = acc + Co * Wo;
  std::vector<const float*> rows(static_cast<std::size_t>(K));
  // ring[r]: HR row held by slot r (or a sentinel).
  std::vector<int64_t> held(static_cast<std::size_t>(K), -1);

  for (int64_t t = begin; t < end; ++t) {
    const int64_t n = t / blocks;
    const int64_t y0 = (t % blocks) * rows_per_task;
    const int64_t y1 = std::min(Ho, y0 + rows_per_task);
    std::fill(held.begin(), held.end(), int64_t{-1});
    for (int64_t oy = y0; oy < y1; ++oy) {
      for (int64_t ky = 0; ky < K; ++ky) {
        const int64_t y = oy - p + ky;
        if (y < 0 || y >= Ho) {
          rows[ky] = zero_row;
          continue;
        }
        const int64_t slot = y % K;  // rows y..y+K-1 land in distinct slots
        if (held[slot] != y) {
          gather_row<T, kResidual, kAvx512>(x, res, g, a.order, a.layout, n, y, slots[slot], stride, p,
                                   tmp);
          held[slot] = y;
        }
        rows[ky] = slots[slot];
      }
      const RowConv rc{rows.data(), stride, C, K, Wo, a.weight, a.bias};
#if FALSR_SPC_X86_DISPATCH
      if (kAvx512) {
        conv_row_avx512(rc, Co, acc);
      } else {
        conv_row_body(rc, Co, acc);
      }
#else
      conv_row_body(rc, Co, acc);
#endif
      if (a.layout == Layout::NCHW) {
        for (int64_t co = 0; co < Co; ++co) {
          T* dst = out + ((n * Co + co) * Ho + oy) * Wo;
          const float* src = acc + co * Wo;
          for (int64_t q = 0; q < Wo; ++q) {
            store(dst, q, src[q]);
          }
        }
      } else {
        T* dst = out + (n * Ho + oy) * Wo * Co;
        for (int64_t q = 0; q < Wo; ++q) {
          for (int64_t co = 0; co < Co; ++co) {
            store(dst, q * Co + co, acc[co * Wo + q]);
          }
        }
      }
    }
  }
}

// No checks: safe inside an OpenMP region (std::bad_alloc aside).
template <bool kAvx512>
FALSR_SPC_ALWAYS_INLINE void run_tasks_body(const SubpixelConvArgs& a,
                                            const SubpixelConvGeometry& g, int64_t begin,
                                            int64_t end) {
  const bool r = a.residual != nullptr;
  if (a.dtype == SubpixelDType::Float32) {
    r ? run_tasks_typed<float, true, kAvx512>(a, g, begin, end)
      : run_tasks_typed<float, false, kAvx512>(a, g, begin, end);
  } else {
    r ? run_tasks_typed<uint16_t, true, kAvx512>(a, g, begin, end)
      : run_tasks_typed<uint16_t, false, kAvx512>(a, g, begin, end);
  }
}

void run_tasks_generic(const SubpixelConvArgs& a, const SubpixelConvGeometry& g, int64_t begin,
                       int64_t end) {
  run_tasks_body<false>(a, g, begin, end);
}

#if FALSR_SPC_X86_DISPATCH
__attribute__((target("avx2,fma"))) void run_tasks_avx2(const SubpixelConvArgs& a,
                                                        const SubpixelConvGeometry& g,
                                                        int64_t begin, int64_t end) {
  run_tasks_body<false>(a, g, begin, end);
}

__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) void run_tasks_avx512(
    const SubpixelConvArgs& a, const SubpixelConvGeometry& g, int64_t begin, int64_t end) {
  run_tasks_body<true>(a, g, begin, end);
}
#endif

using RunTasksFn = void (*)(const SubpixelConvArgs&, const SubpixelConvGeometry&, int64_t,
                            int64_t);

struct SpcIsa {
  RunTasksFn fn;
  const char* name;
};

SpcIsa pick_isa() {
#if FALSR_SPC_X86_DISPATCH
  // What the CPU has (core/isa.h), not capped by FALSR_CPU_ISA: this path has its own
  // override, subpixel_conv_force_isa.
  const int cpu = static_cast<int>(cpu_isa());
  if (cpu >= static_cast<int>(Isa::Avx512)) {
    return {&run_tasks_avx512, "avx512"};
  }
  if (cpu >= static_cast<int>(Isa::Avx2)) {
    return {&run_tasks_avx2, "avx2"};
  }
#endif
  return {&run_tasks_generic, "generic"};
}

SpcIsa& isa() {
  static SpcIsa chosen = pick_isa();
  return chosen;
}

void run_tasks(const SubpixelConvArgs& a, const SubpixelConvGeometry& g, int64_t begin,
               int64_t end) {
  isa().fn(a, g, begin, end);
}

std::size_t elem_size_of(SubpixelDType dtype) {
  return dtype == SubpixelDType::Float32 ? 4 : 2;
}

void check_geometry(const SubpixelConvGeometry& g) {
  const SubpixelConvGeometry ok =
      make_subpixel_conv_geometry(g.n, g.c_in, g.h, g.w, g.s, g.c_out, g.c_hr, g.k);
  (void)ok;
}

bool overlaps(const void* a, int64_t abytes, const void* b, int64_t bbytes) {
  if (a == nullptr || b == nullptr || abytes == 0 || bbytes == 0) {
    return false;
  }
  const auto pa = reinterpret_cast<uintptr_t>(a);
  const auto pb = reinterpret_cast<uintptr_t>(b);
  return pa < pb + static_cast<uintptr_t>(bbytes) && pb < pa + static_cast<uintptr_t>(abytes);
}

void check_args(const SubpixelConvArgs& a, const SubpixelConvGeometry& g) {
  check_geometry(g);
  if (a.dtype != SubpixelDType::Float32 && a.dtype != SubpixelDType::BFloat16) {
    fail_invalid("subpixel_conv: unknown dtype " + std::to_string(static_cast<int>(a.dtype)));
  }
  if (a.order != ChannelOrder::Torch && a.order != ChannelOrder::TF) {
    fail_invalid("subpixel_conv: unknown channel order " +
                 std::to_string(static_cast<int>(a.order)));
  }
  if (a.layout != Layout::NCHW && a.layout != Layout::NHWC) {
    fail_invalid("subpixel_conv: unknown layout " + std::to_string(static_cast<int>(a.layout)));
  }
  const int64_t in_numel = subpixel_conv_in_numel(g);
  const int64_t out_numel = subpixel_conv_out_numel(g);
  const std::size_t es = elem_size_of(a.dtype);
  const int64_t in_bytes = checked_bytes(in_numel, es, "subpixel_conv: input size in bytes");
  const int64_t out_bytes = checked_bytes(out_numel, es, "subpixel_conv: output size in bytes");
  check_pointer(a.x, out_numel > 0 ? in_numel : 0, "subpixel_conv: input x");
  check_pointer(a.out, out_numel, "subpixel_conv: output");
  check_pointer(a.weight, out_numel > 0 ? g.c_out * g.c_hr * g.k * g.k : 0,
                "subpixel_conv: weight");
  if (overlaps(a.x, in_bytes, a.out, out_bytes)) {
    fail_invalid("subpixel_conv: input x and output buffers overlap (the op is not in-place)");
  }
  if (overlaps(a.residual, in_bytes, a.out, out_bytes)) {
    fail_invalid("subpixel_conv: residual and output buffers overlap (the op is not in-place)");
  }
  const int64_t w_bytes = g.c_out * g.c_hr * g.k * g.k * 4;
  if (overlaps(a.weight, w_bytes, a.out, out_bytes) ||
      overlaps(a.bias, g.c_out * 4, a.out, out_bytes)) {
    fail_invalid("subpixel_conv: weight or bias overlaps the output buffer");
  }
}

}  // namespace

SubpixelConvGeometry make_subpixel_conv_geometry(int64_t n, int64_t c_in, int64_t h, int64_t w,
                                                 int64_t scale, int64_t c_out,
                                                 int64_t weight_c_in, int64_t k) {
  check_positive(scale, "subpixel_conv: scale");
  check_non_negative(n, "subpixel_conv: batch size N");
  check_non_negative(c_in, "subpixel_conv: input channels");
  check_non_negative(h, "subpixel_conv: height H");
  check_non_negative(w, "subpixel_conv: width W");
  check_positive(c_out, "subpixel_conv: output channels (weight.size(0))");
  check_positive(k, "subpixel_conv: kernel size");
  if (k % 2 == 0) {
    fail_invalid("subpixel_conv: kernel size must be odd (1 or 3), got " + std::to_string(k));
  }
  if (k > 63) {
    fail_invalid("subpixel_conv: kernel size " + std::to_string(k) + " is unreasonably large");
  }
  const int64_t ss = checked_mul(scale, scale, "subpixel_conv: scale*scale");
  if (c_in % ss != 0) {
    fail_invalid("subpixel_conv: input channels (" + std::to_string(c_in) +
                 ") must be divisible by scale*scale (" + std::to_string(scale) + "*" +
                 std::to_string(scale) + " = " + std::to_string(ss) + ")");
  }
  const int64_t c_hr = c_in / ss;
  if (weight_c_in != c_hr) {
    fail_invalid("subpixel_conv: weight in-channels (" + std::to_string(weight_c_in) +
                 ") must equal input channels / scale^2 (" + std::to_string(c_in) + " / " +
                 std::to_string(ss) + " = " + std::to_string(c_hr) + ")");
  }
  const int64_t ho = checked_mul(h, scale, "subpixel_conv: output height H*scale");
  const int64_t wo = checked_mul(w, scale, "subpixel_conv: output width W*scale");
  checked_bytes(checked_numel({n, c_in, h, w}, "subpixel_conv: number of input elements"), 8,
                "subpixel_conv: input size in bytes");
  checked_bytes(checked_numel({n, c_out, ho, wo}, "subpixel_conv: number of output elements"), 8,
                "subpixel_conv: output size in bytes");
  // Per-thread scratch: (k + 1) HR rows of C x (Wo + k) floats.
  checked_bytes(checked_numel({k + 1, c_hr, wo + k}, "subpixel_conv: scratch size"), 8,
                "subpixel_conv: scratch size in bytes");
  checked_mul(c_out, checked_mul(c_hr, k * k, "subpixel_conv: weight size"),
              "subpixel_conv: weight size");
  return SubpixelConvGeometry{n, c_in, h, w, scale, c_hr, c_out, k};
}

int64_t subpixel_conv_in_numel(const SubpixelConvGeometry& g) { return g.n * g.c_in * g.h * g.w; }

int64_t subpixel_conv_out_numel(const SubpixelConvGeometry& g) {
  return g.n * g.c_out * g.h * g.s * g.w * g.s;
}

int64_t subpixel_conv_rows_per_task(const SubpixelConvGeometry& g) {
  // Enough rows that the k-1 halo rows gathered twice stay a small overhead.
  (void)g;
  return 32;
}

int64_t subpixel_conv_num_tasks(const SubpixelConvGeometry& g) {
  const int64_t ho = g.h * g.s;
  const int64_t rows = subpixel_conv_rows_per_task(g);
  return g.n * ((ho + rows - 1) / rows);
}

void subpixel_conv_tasks(const SubpixelConvArgs& a, const SubpixelConvGeometry& g, int64_t begin,
                         int64_t end) {
  check_args(a, g);
  const int64_t tasks = subpixel_conv_num_tasks(g);
  if (begin < 0 || end > tasks || begin > end) {
    fail_invalid("subpixel_conv: task range [" + std::to_string(begin) + ", " +
                 std::to_string(end) + ") is outside [0, " + std::to_string(tasks) + ")");
  }
  if (begin == end || subpixel_conv_out_numel(g) == 0) {
    return;
  }
  run_tasks(a, g, begin, end);
}

void subpixel_conv(const SubpixelConvArgs& a, const SubpixelConvGeometry& g, int num_threads) {
  check_args(a, g);
  const int64_t tasks = subpixel_conv_num_tasks(g);
  if (tasks == 0 || subpixel_conv_out_numel(g) == 0) {
    return;
  }
  const int64_t work = subpixel_conv_out_numel(g) * g.c_hr * g.k * g.k;
  parallel_tasks(tasks, work, num_threads,
                 [&](int64_t b, int64_t e) { run_tasks(a, g, b, e); });
}

void subpixel_conv_naive(const SubpixelConvArgs& a, const SubpixelConvGeometry& g) {
  check_args(a, g);
  const int64_t Ho = g.h * g.s;
  const int64_t Wo = g.w * g.s;
  const int64_t p = g.k / 2;
  const bool bf16 = a.dtype == SubpixelDType::BFloat16;
  auto in_at = [&](const void* base, int64_t off) -> double {
    return bf16 ? spc_bf16_to_float(static_cast<const uint16_t*>(base)[off])
                : static_cast<const float*>(base)[off];
  };
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t co = 0; co < g.c_out; ++co) {
      for (int64_t oy = 0; oy < Ho; ++oy) {
        for (int64_t ox = 0; ox < Wo; ++ox) {
          double acc = a.bias != nullptr ? a.bias[co] : 0.0;
          for (int64_t c = 0; c < g.c_hr; ++c) {
            for (int64_t ky = 0; ky < g.k; ++ky) {
              const int64_t y = oy - p + ky;
              if (y < 0 || y >= Ho) continue;
              for (int64_t kx = 0; kx < g.k; ++kx) {
                const int64_t xx = ox - p + kx;
                if (xx < 0 || xx >= Wo) continue;
                const int64_t off = spc_lr_offset<int64_t>(n, c, y, xx, g, a.order, a.layout);
                // The residual add happens in fp32, as in the fast kernel.
                float v = static_cast<float>(in_at(a.x, off));
                if (a.residual != nullptr) v += static_cast<float>(in_at(a.residual, off));
                acc += static_cast<double>(
                           a.weight[spc_weight_offset<int64_t>(co, c, ky, kx, g.c_hr, g.k)]) *
                       v;
              }
            }
          }
          const int64_t o = spc_out_offset<int64_t>(n, co, oy, ox, g, a.layout);
          if (bf16) {
            static_cast<uint16_t*>(a.out)[o] = spc_float_to_bf16(static_cast<float>(acc));
          } else {
            static_cast<float*>(a.out)[o] = static_cast<float>(acc);
          }
        }
      }
    }
  }
}

const char* subpixel_conv_isa() { return isa().name; }

bool subpixel_conv_force_isa(const std::string& name) {
  const SpcIsa best = pick_isa();
  SpcIsa want{nullptr, nullptr};
  if (name == "generic") {
    want = {&run_tasks_generic, "generic"};
  }
#if FALSR_SPC_X86_DISPATCH
  const bool has_avx512 = std::string(best.name) == "avx512";
  const bool has_avx2 = has_avx512 || std::string(best.name) == "avx2";
  if (name == "avx2" && has_avx2) {
    want = {&run_tasks_avx2, "avx2"};
  }
  if (name == "avx512" && has_avx512) {
    want = {&run_tasks_avx512, "avx512"};
  }
#endif
  if (name == "best") {
    want = best;
  }
  if (want.fn == nullptr) {
    return false;
  }
  isa() = want;
  return true;
}

}  // namespace falsr::core
