// The AVX-512 BF16 row kernel of the cell convolution (layouts: cell_conv_bf16.h). Same
// structure as the fp32 direct kernel (cell_conv_direct_row.inc): register tiles of up to
// 6 pixels x 64 output channels (24 zmm accumulators), per input-channel pair one
// 32-bit broadcast of the pair and one vdpbf16ps per weight vector (2 MACs per lane), the
// weights split into passes that fit in L1 with fp32 partial sums in between, and a fused
// fp32 epilogue (bias, ReLU, residual, one rounding to the output dtype, masked tails).
// Compiled with a function-level target (no -m flags); run only when
// max_isa() >= Avx512Bf16.
//
// vdpbf16ps treats denormal inputs as zero and flushes denormal results (DAZ / FTZ,
// whatever MXCSR says): values below ~1e-38 in magnitude differ from an fp32 reference.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "core/cell_conv_bf16.h"
#include "core/target.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

FALSR_TARGET_PUSH("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma")
// GCC 12 flags the intrinsics' own _mm512_undefined_* placeholders (a known false positive).
FALSR_IGNORE_MAYBE_UNINITIALIZED

namespace falsr::core::bf16conv {
namespace {

constexpr int kLanes = 16;
constexpr int kMaxNV = 4;  // vectors of 16 output channels per tile
constexpr int64_t kAccStride = kMaxNV * kLanes;

// Accumulators: 6x4, 8x3, 12x2, 16x1 zmm (<= 24 of the 32 registers).
constexpr int tile_pixels(int nv) { return nv == 4 ? 6 : nv == 3 ? 8 : nv == 2 ? 12 : 16; }

// Weights a pass may touch per output-channel block, in bytes (24 KiB: fits the 32 KiB L1
// with the inputs' lines).
constexpr int64_t kPassWeightBytes = 24576;

__mmask16 lane_mask(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1u);
}

__m512 load_io(const void* base, DType dt, int64_t idx, int n) {
  const __mmask16 m = lane_mask(n);
  if (dt == DType::F32) return _mm512_maskz_loadu_ps(m, static_cast<const float*>(base) + idx);
  const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(base) + idx);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

void store_io(void* base, DType dt, int64_t idx, int n, __m512 v) {
  const __mmask16 m = lane_mask(n);
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

// Where the fused epilogue writes one output row (and reads its residual).
struct Epilogue {
  void* out;
  DType out_dtype;
  int64_t out_stride;
  const void* res;  // null: no residual
  DType res_dtype;
  int64_t res_stride;
  bool relu;
  int64_t row_out;  // element index of (x = 0, c = 0) of this row in out
  int64_t row_res;  // same in res
};

inline void finish(const Epilogue& e, int64_t x, int64_t c, int n, __m512 v) {
  if (e.relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
  if (e.res != nullptr) {
    v = _mm512_add_ps(v, load_io(e.res, e.res_dtype, e.row_res + x * e.res_stride + c, n));
  }
  store_io(e.out, e.out_dtype, e.row_out + x * e.out_stride + c, n, v);
}

// One block of output channels of one row, over one pass of input segments.
struct Block {
  const Segment* segs;
  int nseg;
  int64_t coutp, wofs;  // packed weight row (pairs) has 2 * coutp bf16; first column
  const float* bias;    // this block's packed bias
  const float* acc_in;  // null: first pass, start from the bias
  float* acc_out;       // null: last pass, run the epilogue
  const Epilogue* e;
  int64_t co0, cvalid;  // first output channel; valid channels in the block
};

inline __m512i broadcast_pair(const uint16_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));  // unaligned when a plane's pixel stride is odd
  return _mm512_set1_epi32(v);
}

// P output pixels x NV vectors of output channels, accumulators in registers.
template <int P, int NV>
void tile(const Block& b, int64_t x0) {
  __m512 acc[P][NV];
  const float* const acc_in = b.acc_in;  // locals: the stores below cannot alias them
  float* const acc_out = b.acc_out;
  if (acc_in != nullptr) {
#pragma GCC unroll 32
    for (int p = 0; p < P; ++p) {
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) acc[p][j] = _mm512_load_ps(acc_in + (x0 + p) * kAccStride + j * kLanes);
    }
  } else {
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) {
      const __m512 bj = _mm512_load_ps(b.bias + j * kLanes);
#pragma GCC unroll 32
      for (int p = 0; p < P; ++p) acc[p][j] = bj;
    }
  }
  const int64_t wrow = 2 * b.coutp;
  for (int s = 0; s < b.nseg; ++s) {
    const int64_t ps = b.segs[s].pstride;
    const uint16_t* src = b.segs[s].src + x0 * ps;
    const uint16_t* w = b.segs[s].w + 2 * b.wofs;
    const int64_t pairs = b.segs[s].pairs;
    for (int64_t q = 0; q < pairs; ++q, w += wrow, src += 2) {
      __m512bh wv[NV];
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) wv[j] = (__m512bh)_mm512_load_si512(w + j * 2 * kLanes);
#pragma GCC unroll 32
      for (int p = 0; p < P; ++p) {
        const __m512bh in = (__m512bh)broadcast_pair(src + p * ps);
#pragma GCC unroll 8
        for (int j = 0; j < NV; ++j) acc[p][j] = _mm512_dpbf16_ps(acc[p][j], in, wv[j]);
      }
    }
  }
  if (acc_out != nullptr) {
#pragma GCC unroll 32
    for (int p = 0; p < P; ++p) {
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) _mm512_store_ps(acc_out + (x0 + p) * kAccStride + j * kLanes, acc[p][j]);
    }
    return;
  }
#pragma GCC unroll 32
  for (int p = 0; p < P; ++p) {
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) {
      const int64_t c = j * kLanes;
      if (c >= b.cvalid) break;
      finish(*b.e, x0 + p, b.co0 + c, static_cast<int>(std::min<int64_t>(kLanes, b.cvalid - c)),
             acc[p][j]);
    }
  }
}

using TileFn = void (*)(const Block&, int64_t);

template <int NV, int... I>
constexpr std::array<TileFn, sizeof...(I)> tails(std::integer_sequence<int, I...>) {
  return {&tile<I + 1, NV>...};
}

// A block across the whole row: full tiles, then one tail tile.
template <int NV>
void row_pass(const Block& b, int64_t width) {
  constexpr int P = tile_pixels(NV);
  int64_t x0 = 0;
  for (; x0 + P <= width; x0 += P) tile<P, NV>(b, x0);
  if (x0 < width) {
    static constexpr auto kTails = tails<NV>(std::make_integer_sequence<int, P>{});
    kTails[static_cast<size_t>(width - x0 - 1)](b, x0);
  }
}

void dispatch(int nv, const Block& b, int64_t width) {
  switch (nv) {
    case 4: return row_pass<4>(b, width);
    case 3: return row_pass<3>(b, width);
    case 2: return row_pass<2>(b, width);
    default: return row_pass<1>(b, width);
  }
}

// One block of output channels [cb, cb + nv * 16) of a row: the segments split (at pair
// boundaries) into passes whose weights fit in L1, each over the whole row.
void run_block(const Segment* segs, int nseg, int nv, Block b, int64_t width, Segment* chunks,
               float* acc) {
  const int64_t max_pairs = std::max<int64_t>(1, kPassWeightBytes / (nv * kLanes * 4));
  int64_t total = 0;
  for (int s = 0; s < nseg; ++s) total += segs[s].pairs;
  if (total <= max_pairs || width <= tile_pixels(nv)) {  // one pass
    b.segs = segs;
    b.nseg = nseg;
    b.acc_in = nullptr;
    b.acc_out = nullptr;
    dispatch(nv, b, width);
    return;
  }
  int64_t done = 0;  // pairs (over all segments) already accumulated
  int s = 0;
  int64_t off = 0;  // pair offset into segs[s]
  while (done < total) {
    int n = 0;
    int64_t taken = 0;
    while (taken < max_pairs && s < nseg) {
      const int64_t take = std::min(max_pairs - taken, segs[s].pairs - off);
      chunks[n++] = Segment{segs[s].src + 2 * off, segs[s].pstride, take,
                            segs[s].w + off * 2 * b.coutp};
      taken += take;
      off += take;
      if (off == segs[s].pairs) {
        ++s;
        off = 0;
      }
    }
    b.segs = chunks;
    b.nseg = n;
    b.acc_in = done == 0 ? nullptr : acc;
    done += taken;
    b.acc_out = done == total ? nullptr : acc;
    dispatch(nv, b, width);
  }
}

void conv_row(const Geometry& g, const CellConvArgs& a, int64_t n, int64_t y,
              const uint16_t* const* rows, Segment* segs, float* acc) {
  const int64_t pix0 = (n * a.height + y) * a.width;
  const Epilogue e{a.out.data,
                   a.out.dtype,
                   a.out.pixel_stride,
                   a.has_residual ? a.residual.data : nullptr,
                   a.residual.dtype,
                   a.residual.pixel_stride,
                   g.relu,
                   pix0 * a.out.pixel_stride,
                   a.has_residual ? pix0 * a.residual.pixel_stride : 0};
  const int64_t wrow = 2 * g.coutp;
  int nseg = 0;
  if (g.read_in_place) {  // k == 1, every plane's channels even: pairs never straddle planes
    int64_t c0 = 0;
    for (const Plane& p : a.inputs) {
      segs[nseg++] = Segment{static_cast<const uint16_t*>(p.data) + pix0 * p.pixel_stride,
                             p.pixel_stride, p.channels / 2, g.weight + c0 / 2 * wrow};
      c0 += p.channels;
    }
  } else {
    for (int64_t ky = 0; ky < g.k; ++ky) {
      for (int64_t kx = 0; kx < g.k; ++kx) {
        segs[nseg++] = Segment{rows[ky] + kx * g.cstride, g.cstride, g.cin_pairs,
                               g.weight + (ky * g.k + kx) * g.cin_pairs * wrow};
      }
    }
  }
  for (int64_t cb = 0; cb < g.coutp;) {
    const int nv = static_cast<int>(std::min<int64_t>(kMaxNV, (g.coutp - cb) / kLanes));
    const int64_t cvalid = std::min<int64_t>(g.cout - cb, nv * kLanes);
    Block b{};
    b.coutp = g.coutp;
    b.wofs = cb;
    b.bias = g.bias + cb;
    b.e = &e;
    b.co0 = cb;
    b.cvalid = cvalid;
    run_block(segs, nseg, nv, b, a.width, segs + nseg, acc);
    cb += nv * kLanes;
  }
}

}  // namespace

RowKernel row_kernel_avx512_bf16() { return &conv_row; }

}  // namespace falsr::core::bf16conv

FALSR_TARGET_POP

#else

namespace falsr::core::bf16conv {
RowKernel row_kernel_avx512_bf16() { return nullptr; }
}  // namespace falsr::core::bf16conv

#endif
