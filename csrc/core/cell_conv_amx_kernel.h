// The AMX bf16 implicit GEMM behind cell_conv_amx.cpp (no im2col):
//
//  - task = (n, block of output rows, column segment); per task a ring of k gathered
//    bf16 rows of the input concat, channels zero-padded to cstride = Cin rounded up to
//    32, each row the segment plus its halo, and zero columns where the last 32-pixel
//    group over-reads (rows outside the image point at a shared zero row). Segments
//    keep the ring in L2 for wide inputs (one segment for 64 channels at 480 px; about
//    128 px for the 464-channel fusion conv);
//  - A tile = 16 consecutive output pixels x 32 input channels, loaded straight from
//    ring row kh at column x0 + kw (row stride cstride * 2 bytes): the shifted window
//    of a 3x3 tap is just another base address;
//  - B tile = packed weights [cout block][32-channel chunk][tap] as 16 VNNI pairs x
//    16 couts (1 KiB), packed once per plan; a grouped conv is packed as its dense
//    block-diagonal equivalent, and each cout block only visits the chunks its groups
//    read (so groups of >= 16 couts waste at most the chunk rounding);
//  - C = 2 pixel blocks x (2 or 1) cout blocks of 16 x 16 fp32, i.e. tmm0-3 accumulate,
//    tmm4-5 hold A, tmm6-7 hold B; each A load feeds 2 products, each B load 2;
//  - the C tiles go to a 4 KiB fp32 scratch, then an AVX-512 epilogue adds the bias,
//    applies ReLU, adds the residual (fp32 or bf16) and rounds once into the out plane.
//
// The tile instructions sit behind a `Tiles` policy (AmxTiles here; the test adds a
// scalar emulation) so the blocking and packing logic can be checked on CPUs without
// AMX. The tile configuration is per thread: every run_tasks call loads it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "core/activation.h"
#include "core/cell_conv.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FALSR_AMX_AVAILABLE 1
#define FALSR_AMX_TARGET \
  __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bf16,avx512bw,avx512vl,avx512dq")))
#define FALSR_AMX_INLINE inline __attribute__((always_inline))
#else
#define FALSR_AMX_AVAILABLE 0
#endif

#if FALSR_AMX_AVAILABLE
// GCC 12's AVX-512 intrinsics initialise their undefined operand from itself, which
// -Wmaybe-uninitialized reports at every inlining site (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
namespace falsr::core::amx {

constexpr int64_t kPixBlock = 16;             // pixels per A / C tile (tile rows)
constexpr int64_t kPixGroup = 2 * kPixBlock;  // pixels per C group (2 pixel blocks)
constexpr int64_t kChunk = 32;                // input channels per A tile (bf16 K)
constexpr int64_t kCoutBlock = 16;            // couts per B / C tile
constexpr int64_t kTileElems = 512;           // bf16 elements of one 16 x 64-byte tile
#ifndef FALSR_AMX_PREFETCH
#define FALSR_AMX_PREFETCH 1
#endif
constexpr bool kPrefetch = FALSR_AMX_PREFETCH;

// 64-byte ldtilecfg operand (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Every tile we use is 16 rows x 64 bytes (A: 16 px x 32 bf16, B: 16 pairs x 16 couts
// x 2 bf16, C: 16 px x 16 fp32).
inline TileConfig make_tile_config() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  return cfg;
}

// Free-function deleter for 64-byte aligned buffers.
struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
template <class T>
using AlignedBuf = std::unique_ptr<T[], AlignedFree>;

template <class T>
AlignedBuf<T> aligned_zeroed(int64_t count) {
  const size_t bytes = (static_cast<size_t>(count) * sizeof(T) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, bytes == 0 ? 64 : bytes);
  return AlignedBuf<T>(static_cast<T*>(p));
}

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Shapes of one convolution, fixed at plan time.
struct Layout {
  int64_t batch, height, width;
  int64_t cin, cstride, chunks;    // cstride = Cin rounded up to 32; chunks = cstride / 32
  int64_t cout, cout_blocks;       // cout_blocks = ceil(Cout / 16)
  int64_t groups, cin_per_group, cout_per_group;
  std::vector<int64_t> chunk_begin, chunk_end;  // per cout block: the chunks it reads
  int64_t k, pad, taps;            // taps = k * k
  int64_t seg_width, segments;     // output columns per task (a multiple of 32)
  int64_t window_pixels;           // ring row length in pixels: seg_width + 2 pad
  int64_t rows_per_task, row_blocks, tasks_per_image;

  int64_t num_tasks() const { return batch * tasks_per_image; }
};

// ring_bytes: the most bytes the k + 1 ring rows of a task may take (the segment
// width follows from it); tests pass small values to get many segments.
inline Layout make_layout(const CellConvArgs& a, int64_t ring_bytes = int64_t{512} << 10) {
  Layout l{};
  l.batch = a.batch;
  l.height = a.height;
  l.width = a.width;
  l.cin = 0;
  for (const Plane& p : a.inputs) l.cin += p.channels;
  l.cstride = round_up(l.cin, kChunk);
  l.chunks = l.cstride / kChunk;
  l.cout = a.out_channels;
  l.cout_blocks = (l.cout + kCoutBlock - 1) / kCoutBlock;
  l.groups = a.groups;
  l.cin_per_group = l.cin / a.groups;
  l.cout_per_group = l.cout / a.groups;
  for (int64_t j = 0; j < l.cout_blocks; ++j) {
    const int64_t g_first = j * kCoutBlock / l.cout_per_group;
    const int64_t g_last = (std::min(l.cout, (j + 1) * kCoutBlock) - 1) / l.cout_per_group;
    l.chunk_begin.push_back(g_first * l.cin_per_group / kChunk);
    l.chunk_end.push_back(((g_last + 1) * l.cin_per_group + kChunk - 1) / kChunk);
  }
  l.k = a.kernel;
  l.pad = a.kernel / 2;
  l.taps = a.kernel * a.kernel;
  // Output pixel xs + i of a segment reads window columns i .. i + 2 pad, so a window
  // row is seg_width + 2 pad pixels (the last group of 32 may run past the image and
  // reads zeros). Equal segments: 480 px in a 224 px budget is 3 x 160, not
  // 224 + 224 + 32.
  const int64_t budget = ring_bytes / ((l.k + 1) * l.cstride * 2) - 2 * l.pad;
  const int64_t max_seg = std::max(kPixGroup, budget / kPixGroup * kPixGroup);
  l.segments = (a.width + max_seg - 1) / max_seg;
  l.seg_width = round_up((a.width + l.segments - 1) / l.segments, kPixGroup);
  l.segments = (a.width + l.seg_width - 1) / l.seg_width;
  l.window_pixels = l.seg_width + 2 * l.pad;
  // 3x3: 16 rows per task re-gathers 2 halo rows per 16 (12.5 %) and still gives 30
  // tasks for a 480-row image; 1x1 has no halo, so smaller tasks balance better.
  l.rows_per_task = std::min<int64_t>(a.height, a.kernel == 3 ? 16 : 8);
  l.row_blocks = (a.height + l.rows_per_task - 1) / l.rows_per_task;
  l.tasks_per_image = l.row_blocks * l.segments;
  return l;
}

// MACs the tiles compute per output pixel over the useful ones (1 for a dense conv with
// Cin % 32 == 0 and Cout % 16 == 0; grows with channel padding and groups).
inline double waste_factor(const Layout& l) {
  double computed = 0;
  for (int64_t j = 0; j < l.cout_blocks; ++j) {
    computed += double(l.chunk_end[j] - l.chunk_begin[j]) * kChunk * kCoutBlock;
  }
  return computed / (double(l.cout) * double(l.cin_per_group));
}

// Weights fp32 [Cout, Cin / groups, k, k] -> bf16 B tiles [cout block][chunk][tap][16
// pairs][16 couts][2] of the dense block-diagonal weight; the rest is zero.
inline AlignedBuf<uint16_t> pack_weights(const Layout& l, const float* weight) {
  const int64_t count = l.cout_blocks * l.taps * l.chunks * kTileElems;
  AlignedBuf<uint16_t> packed = aligned_zeroed<uint16_t>(count);
  for (int64_t co = 0; co < l.cout; ++co) {
    const int64_t j = co / kCoutBlock, c = co % kCoutBlock;
    const int64_t g = co / l.cout_per_group;
    for (int64_t cg = 0; cg < l.cin_per_group; ++cg) {
      const int64_t ci = g * l.cin_per_group + cg;
      const int64_t q = ci / kChunk, r = (ci % kChunk) / 2, e = ci % 2;
      for (int64_t t = 0; t < l.taps; ++t) {
        const float w = weight[(co * l.cin_per_group + cg) * l.taps + t];
        packed[((j * l.chunks + q) * l.taps + t) * kTileElems + (r * kCoutBlock + c) * 2 + e] =
            float_to_bf16(w);
      }
    }
  }
  return packed;
}

// The hardware tiles. GCC's tileloadd / ldtilecfg asm does not tell the compiler which
// memory it reads, so we add compiler barriers where C++ stores precede tile reads.
struct AmxTiles {
  FALSR_AMX_TARGET static FALSR_AMX_INLINE void configure(const TileConfig& cfg) {
    asm volatile("ldtilecfg %0" ::"m"(cfg) : "memory");
  }
  FALSR_AMX_TARGET static FALSR_AMX_INLINE void release() { _tile_release(); }
  FALSR_AMX_TARGET static FALSR_AMX_INLINE void memory_barrier() {
    asm volatile("" ::: "memory");
  }
  template <int T>
  FALSR_AMX_TARGET static FALSR_AMX_INLINE void zero() {
    static_assert(T >= 0 && T < 4, "only C tiles are zeroed");
    if constexpr (T == 0) _tile_zero(0);
    if constexpr (T == 1) _tile_zero(1);
    if constexpr (T == 2) _tile_zero(2);
    if constexpr (T == 3) _tile_zero(3);
  }
  template <int T>
  FALSR_AMX_TARGET static FALSR_AMX_INLINE void load(const void* base, int64_t stride) {
    static_assert(T >= 4 && T < 8, "only A / B tiles are loaded");
    if constexpr (T == 4) _tile_loadd(4, base, stride);
    if constexpr (T == 5) _tile_loadd(5, base, stride);
    if constexpr (T == 6) _tile_loadd(6, base, stride);
    if constexpr (T == 7) _tile_loadd(7, base, stride);
  }
  template <int T>
  FALSR_AMX_TARGET static FALSR_AMX_INLINE void store(void* base, int64_t stride) {
    static_assert(T >= 0 && T < 4, "only C tiles are stored");
    if constexpr (T == 0) _tile_stored(0, base, stride);
    if constexpr (T == 1) _tile_stored(1, base, stride);
    if constexpr (T == 2) _tile_stored(2, base, stride);
    if constexpr (T == 3) _tile_stored(3, base, stride);
  }
  // C[T] += A[A] * B[B]: the four products of the 2 x 2 blocking.
  template <int C, int A, int B>
  FALSR_AMX_TARGET static FALSR_AMX_INLINE void dot() {
    if constexpr (C == 0 && A == 4 && B == 6) {
      _tile_dpbf16ps(0, 4, 6);
    } else if constexpr (C == 1 && A == 4 && B == 7) {
      _tile_dpbf16ps(1, 4, 7);
    } else if constexpr (C == 2 && A == 5 && B == 6) {
      _tile_dpbf16ps(2, 5, 6);
    } else if constexpr (C == 3 && A == 5 && B == 7) {
      _tile_dpbf16ps(3, 5, 7);
    } else {
      static_assert(C < 0, "unsupported tile combination");
    }
  }
};

// Accumulates one 32-pixel x (16 * CO)-cout group over all taps and chunks and stores
// it to scratch: C tile (p, c) = scratch + (p * 2 + c) * 256, 16 px rows x 16 couts.
template <class Tiles, int CO>
FALSR_AMX_TARGET FALSR_AMX_INLINE void accumulate_group(const Layout& l,
                                                         const uint16_t* const* rows,
                                                         const uint16_t* packed_block,
                                                         int64_t x0, int64_t q_begin,
                                                         int64_t q_end, float* scratch) {
  const int64_t a_stride = l.cstride * 2;  // bytes between pixels
  const int64_t b_block = l.taps * l.chunks * kTileElems;  // elements per cout block
  Tiles::template zero<0>();
  Tiles::template zero<2>();
  if constexpr (CO == 2) {
    Tiles::template zero<1>();
    Tiles::template zero<3>();
  }
  // Chunk outermost: the A lines of one chunk (k rows x 34 px x 64 B) stay in L1 while
  // the k * k taps reuse them (each kw shift shares 15 of 16 pixels); with taps outer,
  // wide inputs (e.g. 464 channels) would stream every chunk through L1 k times.
  for (int64_t q = q_begin; q < q_end; ++q) {
    const uint16_t* bq = packed_block + q * l.taps * kTileElems;
    for (int64_t kh = 0; kh < l.k; ++kh) {
      for (int64_t kw = 0; kw < l.k; ++kw) {
        const uint16_t* a0 = rows[kh] + (x0 + kw) * l.cstride + q * kChunk;
        const uint16_t* b0 = bq + (kh * l.k + kw) * kTileElems;
        Tiles::template load<6>(b0, 64);
        Tiles::template load<4>(a0, a_stride);
        Tiles::template dot<0, 4, 6>();
        Tiles::template load<5>(a0 + kPixBlock * l.cstride, a_stride);
        Tiles::template dot<2, 5, 6>();
        if constexpr (CO == 2) {
          Tiles::template load<7>(b0 + b_block, 64);
          Tiles::template dot<1, 4, 7>();
          Tiles::template dot<3, 5, 7>();
        }
      }
    }
  }
  Tiles::template store<0>(scratch, 64);
  Tiles::template store<2>(scratch + 2 * 256, 64);
  if constexpr (CO == 2) {
    Tiles::template store<1>(scratch + 256, 64);
    Tiles::template store<3>(scratch + 3 * 256, 64);
  }
}

// out[n, y, x0 + i, cout block j + c] = act(scratch + bias) + residual, for the valid
// pixels (x < x_end) and couts (< Cout), rounded once to the out dtype.
FALSR_AMX_TARGET inline void epilogue_group(const Layout& l, const CellConvArgs& a,
                                            const float* scratch, int64_t n, int64_t y,
                                            int64_t x0, int64_t x_end, int64_t j,
                                            int co_tiles) {
  const int64_t pix_base = (n * l.height + y) * l.width;
  for (int c = 0; c < co_tiles; ++c) {
    const int64_t co0 = (j + c) * kCoutBlock;
    const int64_t valid = std::min<int64_t>(kCoutBlock, l.cout - co0);
    const __mmask16 m = static_cast<__mmask16>((1u << valid) - 1u);
    const __m512 bias =
        a.bias != nullptr ? _mm512_maskz_loadu_ps(m, a.bias + co0) : _mm512_setzero_ps();
    const __m512 zero = _mm512_setzero_ps();
    for (int p = 0; p < 2; ++p) {
      const float* tile = scratch + (p * 2 + c) * 256;
      const int64_t xb = x0 + p * kPixBlock;
      const int64_t px_count = std::min<int64_t>(kPixBlock, x_end - xb);
      for (int64_t i = 0; i < px_count; ++i) {
        const int64_t pix = pix_base + xb + i;
        __m512 v = _mm512_add_ps(_mm512_load_ps(tile + i * 16), bias);
        if (a.relu) v = _mm512_max_ps(v, zero);
        if (a.has_residual) {
          const int64_t off = pix * a.residual.pixel_stride + co0;
          if (a.residual.dtype == DType::F32) {
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(
                                     m, static_cast<const float*>(a.residual.data) + off));
          } else {
            const __m256i h = _mm256_maskz_loadu_epi16(
                m, static_cast<const uint16_t*>(a.residual.data) + off);
            v = _mm512_add_ps(
                v, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
          }
        }
        const int64_t off = pix * a.out.pixel_stride + co0;
        if (a.out.dtype == DType::F32) {
          _mm512_mask_storeu_ps(static_cast<float*>(a.out.data) + off, m, v);
        } else {
          _mm256_mask_storeu_epi16(static_cast<uint16_t*>(a.out.data) + off, m,
                                   (__m256i)_mm512_cvtneps_pbh(v));
        }
      }
    }
  }
}

// Copies input row y of image n (concat of the bf16 planes), columns xs - pad ..
// xs - pad + window_pixels - 1, into a ring row: column c holds input pixel xs - pad + c
// (zeros outside the image), channel ci at ci. Padding channels are never written, so
// they stay zero from the ring's allocation. (cell_conv_window.h's gather_row is the
// generic version for whole rows.)
FALSR_AMX_TARGET inline void gather_row_bf16(const Layout& l, const CellConvArgs& a, int64_t n,
                                             int64_t y, int64_t xs, uint16_t* dst) {
  const int64_t first = xs - l.pad;  // input column of window column 0
  const int64_t x_begin = std::max<int64_t>(0, first);
  const int64_t x_end = std::min(l.width, first + l.window_pixels);
  for (int64_t c = 0; c < l.window_pixels; ++c) {
    const int64_t x = first + c;
    if (x < 0 || x >= l.width) std::memset(dst + c * l.cstride, 0, sizeof(uint16_t) * l.cin);
  }
  int64_t c0 = 0;
  for (const Plane& p : a.inputs) {
    const uint16_t* src =
        static_cast<const uint16_t*>(p.data) + (n * l.height + y) * l.width * p.pixel_stride;
    uint16_t* d = dst + (x_begin - first) * l.cstride + c0;  // input pixel x_begin
    const int64_t full = p.channels / 32;
    const __mmask32 tail = static_cast<__mmask32>((uint64_t{1} << (p.channels % 32)) - 1);
    for (int64_t x = x_begin; x < x_end; ++x) {
      const uint16_t* s = src + x * p.pixel_stride;
      uint16_t* o = d + (x - x_begin) * l.cstride;
      for (int64_t v = 0; v < full; ++v) {
        _mm512_storeu_si512(o + 32 * v, _mm512_loadu_si512(s + 32 * v));
      }
      if (tail != 0) {
        _mm512_mask_storeu_epi16(o + 32 * full, tail,
                                 _mm512_maskz_loadu_epi16(tail, s + 32 * full));
      }
    }
    c0 += p.channels;
  }
}

// Prefetches (to L2) the input pixels [x0, x0 + 32) of row y of every plane, so the
// next row's gather finds them there: spread over the groups of the current row, the
// DRAM latency hides behind tile work instead of stalling one burst of copies.
FALSR_AMX_TARGET FALSR_AMX_INLINE void prefetch_input(const Layout& l, const CellConvArgs& a,
                                                       int64_t n, int64_t y, int64_t x0) {
  if (y >= l.height) return;
  const int64_t x1 = std::min(l.width, x0 + kPixGroup);
  for (const Plane& p : a.inputs) {
    const char* row = reinterpret_cast<const char*>(
        static_cast<const uint16_t*>(p.data) + (n * l.height + y) * l.width * p.pixel_stride);
    const char* begin = row + x0 * p.pixel_stride * 2;
    const char* end = row + x1 * p.pixel_stride * 2;
    for (const char* c = begin; c < end; c += 64) _mm_prefetch(c, _MM_HINT_T1);
  }
}

// Runs tasks [begin, end) of the plan on the calling thread.
template <class Tiles>
FALSR_AMX_TARGET void run_tasks(const Layout& l, const uint16_t* packed, const CellConvArgs& a,
                                int64_t begin, int64_t end) {
  const int64_t row_elems = l.window_pixels * l.cstride;
  // k ring rows plus one all-zero row that stands for the rows outside the image.
  // Zeroed once: the padding channels are never written.
  AlignedBuf<uint16_t> ring = aligned_zeroed<uint16_t>((l.k + 1) * row_elems);
  const uint16_t* zero_row = ring.get() + l.k * row_elems;
  alignas(64) float scratch[4 * 256];
  const TileConfig cfg = make_tile_config();
  Tiles::configure(cfg);
  const int64_t b_block = l.taps * l.chunks * kTileElems;
  for (int64_t task = begin; task < end; ++task) {
    const int64_t n = task / l.tasks_per_image;
    const int64_t block = task % l.tasks_per_image;
    const int64_t y0 = block / l.segments * l.rows_per_task;
    const int64_t y1 = std::min(l.height, y0 + l.rows_per_task);
    const int64_t xs = block % l.segments * l.seg_width;
    const int64_t xe = std::min(l.width, xs + l.seg_width);
    // Input row iy lives in ring slot iy mod k; rows y0 - pad .. y0 + pad - 1 first.
    auto slot = [&](int64_t iy) { return ring.get() + ((iy % l.k + l.k) % l.k) * row_elems; };
    auto row = [&](int64_t iy) -> const uint16_t* {
      return iy < 0 || iy >= l.height ? zero_row : slot(iy);
    };
    for (int64_t iy = std::max<int64_t>(0, y0 - l.pad); iy < std::min(l.height, y0 + l.pad);
         ++iy) {
      gather_row_bf16(l, a, n, iy, xs, slot(iy));
    }
    for (int64_t y = y0; y < y1; ++y) {
      if (y + l.pad < l.height) gather_row_bf16(l, a, n, y + l.pad, xs, slot(y + l.pad));
      Tiles::memory_barrier();  // the gathered row is read by tile loads only
      const uint16_t* rows[3];
      for (int64_t kh = 0; kh < l.k; ++kh) rows[kh] = row(y - l.pad + kh);
      for (int64_t x0 = xs; x0 < xe; x0 += kPixGroup) {
        if (kPrefetch) prefetch_input(l, a, n, y + l.pad + 1, x0);
        int64_t j = 0;
        for (; j + 2 <= l.cout_blocks; j += 2) {
          accumulate_group<Tiles, 2>(l, rows, packed + j * b_block, x0 - xs,
                                     std::min(l.chunk_begin[j], l.chunk_begin[j + 1]),
                                     std::max(l.chunk_end[j], l.chunk_end[j + 1]), scratch);
          epilogue_group(l, a, scratch, n, y, x0, xe, j, 2);
        }
        if (j < l.cout_blocks) {
          accumulate_group<Tiles, 1>(l, rows, packed + j * b_block, x0 - xs, l.chunk_begin[j],
                                     l.chunk_end[j], scratch);
          epilogue_group(l, a, scratch, n, y, x0, xe, j, 1);
        }
      }
    }
  }
  Tiles::release();
}

}  // namespace falsr::core::amx
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // FALSR_AMX_AVAILABLE
