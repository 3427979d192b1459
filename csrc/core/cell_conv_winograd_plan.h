// The dtype-independent part of the Winograd F(2x2, 3x3) cell convolution paths
// (fp32: cell_conv_winograd.cpp, which describes the scheme; all-bf16 inputs:
// cell_conv_winograd_bf16.cpp): decline rules, tiling and task split, weight transform, window
// gather, task loop and fused epilogue. A path supplies a kernel policy `Kernels`:
//
//   Elem              element type of the input planes, of V and of the packed U
//   kChunk            input channels per GEMM pass (V holds one chunk)
//   kPath             CellConvPlan::path()
//   pack_weight       where U[xi][ci][co] lives in u_ and its value from the fp32 product
//   transform_inputs  V = B^T d B of a chunk's tiles (own target attribute)
//   gemm<MT, NV>      one microkernel call, M[tiles][16 NV couts from co] (+)= V * U
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "core/cell_conv.h"
#include "core/cell_conv_winograd_kernels.h"

namespace falsr::core::winograd {

constexpr int64_t kMinChannels = 16;  // below this the transforms do not pay

// Whether `a` is a dense 3x3 conv with >= kMinChannels channels in and out and every
// input of `dtype`: the shape both Winograd paths take.
inline bool fits(const CellConvArgs& a, DType dtype) {
  if (a.kernel != 3 || a.groups != 1 || a.out_channels < kMinChannels) return false;
  int64_t cin = 0;
  for (const Plane& p : a.inputs) {
    if (p.dtype != dtype) return false;
    cin += p.channels;
  }
  return cin >= kMinChannels;
}

#if FALSR_WINO_HAS_X86  // the task loop is AVX-512

constexpr int64_t kStreamBytes = int64_t{16} << 20;  // fp32 outputs from this size stream
constexpr int64_t kBandTiles = 4;                     // tile rows (2 output rows each) per task

inline int64_t round_up16(int64_t v) { return (v + 15) / 16 * 16; }

// 64-byte aligned, zero-initialised array of T.
template <class T>
struct AlignedArray {
  T* p = nullptr;
  explicit AlignedArray(int64_t count) {
    const size_t bytes = (static_cast<size_t>(count) * sizeof(T) + 63) / 64 * 64;
    p = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (p == nullptr) throw std::bad_alloc();
    std::memset(p, 0, bytes);
  }
  ~AlignedArray() { std::free(p); }
  AlignedArray(const AlignedArray&) = delete;
  AlignedArray& operator=(const AlignedArray&) = delete;
};

// Non-temporal stores for large fp32 outputs made of whole 64-byte lines: the output
// would not stay in cache anyway, and streaming it skips the read-for-ownership of every
// line (measured about +10 % on fp32 64->64 at 480x480).
inline bool streams_output(const CellConvArgs& a) {
  const int64_t bytes = a.batch * a.height * a.width * a.out.pixel_stride * 4;
  return a.out.dtype == DType::F32 && a.out_channels % 16 == 0 && a.out.pixel_stride % 16 == 0 &&
         reinterpret_cast<uintptr_t>(a.out.data) % 64 == 0 && bytes >= kStreamBytes;
}

// A pixel's channels as fp32: inline masked vector copies beat a memcpy call per pixel
// and plane.
FALSR_WINO_AVX512 FALSR_WINO_INLINE void widen_channels(const void* src, DType dtype, float* dst,
                                                        int64_t count) {
  int64_t c = 0;
  for (; c + 16 <= count; c += 16) _mm512_storeu_ps(dst + c, load_channels(src, dtype, c, kAll));
  if (c < count) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (count - c)) - 1);
    _mm512_mask_storeu_ps(dst + c, mask, load_channels(src, dtype, c, mask));
  }
}

// m[t][co] (+)= sum_k v[t][k] u[k][co] over one channel chunk (kc channels; the u panel
// of a microkernel stays in L1) for one xi: t < tiles (rounded up to the microkernel's
// tile count, which the buffers allow), co < cout_p.
template <class Kernels>
FALSR_WINO_AVX512 FALSR_WINO_INLINE void gemm_tiles(const typename Kernels::Elem* v,
                                                    const typename Kernels::Elem* u, float* m,
                                                    int64_t tiles, int64_t kc, int64_t cout_p,
                                                    bool accumulate) {
  int64_t co = 0;
  for (; co + 64 <= cout_p; co += 64) {
    for (int64_t t = 0; t < tiles; t += 6) {
      Kernels::template gemm<6, 4>(v + t * kc, kc, u, co, cout_p, m + t * cout_p + co,
                                   accumulate);
    }
  }
  if (co + 32 <= cout_p) {
    for (int64_t t = 0; t < tiles; t += 12) {
      Kernels::template gemm<12, 2>(v + t * kc, kc, u, co, cout_p, m + t * cout_p + co,
                                    accumulate);
    }
    co += 32;
  }
  if (co < cout_p) {  // 16 couts left
    for (int64_t t = 0; t < tiles; t += 12) {
      Kernels::template gemm<12, 1>(v + t * kc, kc, u, co, cout_p, m + t * cout_p + co,
                                    accumulate);
    }
  }
}

template <class Kernels>
class Plan final : public CellConvPlan {
  using Elem = typename Kernels::Elem;  // float or bf16 bits
  static constexpr DType kInput = std::is_same_v<Elem, float> ? DType::F32 : DType::BF16;
  static constexpr int64_t kChunk = Kernels::kChunk;

 public:
  explicit Plan(const CellConvArgs& a)
      : batch_(a.batch),
        height_(a.height),
        width_(a.width),
        cout_(a.out_channels),
        cout_p_(round_up16(a.out_channels)) {
    for (const Plane& p : a.inputs) cin_ += p.channels;
    cin_p_ = round_up16(cin_);
    tiles_w_ = (width_ + 1) / 2;
    tiles_h_ = (height_ + 1) / 2;
    tile_block_ = choose_tile_block(cin_p_, cout_p_);
    col_blocks_ = (tiles_w_ + tile_block_ - 1) / tile_block_;
    // Equal column blocks, not full ones and a remainder: threads take contiguous task
    // ranges (a column block each, when there are two), so 64 tiles as 48 + 16 ran as
    // slowly as 96. Rounded up to the microkernels' 12 tiles; never above tile_block_.
    block_tiles_ = ((tiles_w_ + col_blocks_ - 1) / col_blocks_ + 11) / 12 * 12;
    col_blocks_ = (tiles_w_ + block_tiles_ - 1) / block_tiles_;
    bands_ = (tiles_h_ + kBandTiles - 1) / kBandTiles;
    transform_weights(a.weight);
    bias_.assign(static_cast<size_t>(cout_p_), 0.0f);
    if (a.bias != nullptr) std::copy(a.bias, a.bias + cout_, bias_.begin());
  }

  int64_t num_tasks() const override { return batch_ * col_blocks_ * bands_; }

  void run_tasks(const CellConvArgs& a, int64_t begin, int64_t end) const override {
    run_tasks_avx512(a, begin, end);
  }

  std::string path() const override { return Kernels::kPath; }

 private:
  // Tiles per column block: a multiple of 12 (the microkernels take 6 or 12 tiles) such
  // that the fp32 window ring, V (one channel chunk) and M stay well inside a 1 MiB L2
  // beside the U panels streaming through. More tiles per block = more reuse of each U load.
  static int64_t choose_tile_block(int64_t cin_p, int64_t cout_p) {
    const int64_t v_bytes = int64_t{sizeof(Elem)} * 16 * std::min(kChunk, cin_p);
    const int64_t bytes_per_tile = 4 * 8 * cin_p + v_bytes + 4 * 16 * cout_p;  // ring + V + M
    const int64_t budget = 768 * 1024;
    return std::clamp<int64_t>(budget / bytes_per_tile / 12 * 12, 12, 48);
  }

  // U[xi] = G g G^T with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], in fp64 from the
  // fp32 weights, rounded once to fp32 and then as Kernels::pack_weight says.
  void transform_weights(const float* w) {
    u_.assign(static_cast<size_t>(16 * cin_p_ * cout_p_), Elem{0});
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    for (int64_t co = 0; co < cout_; ++co) {
      for (int64_t ci = 0; ci < cin_; ++ci) {
        const float* g = w + (co * cin_ + ci) * 9;
        double gg[4][3];  // G g
        for (int i = 0; i < 4; ++i)
          for (int kx = 0; kx < 3; ++kx)
            gg[i][kx] = G[i][0] * g[kx] + G[i][1] * g[3 + kx] + G[i][2] * g[6 + kx];
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) {
            const double v = gg[i][0] * G[j][0] + gg[i][1] * G[j][1] + gg[i][2] * G[j][2];
            Kernels::pack_weight(u_.data(), 4 * i + j, ci, co, cin_p_, cout_p_,
                                 static_cast<float>(v));
          }
      }
    }
  }

  // dst[c * cin_p + ci] = concat(inputs)[n, y, x0 + c, ci] as fp32 for c < columns, zero
  // outside the image; the channel padding of dst is never written (stays zero).
  FALSR_WINO_AVX512 void gather_window_row(const CellConvArgs& a, int64_t n, int64_t y,
                                           int64_t x0, int64_t columns, float* dst) const {
    if (y < 0 || y >= height_) {
      std::memset(dst, 0, sizeof(float) * columns * cin_p_);
      return;
    }
    const int64_t x_begin = std::max<int64_t>(x0, 0), x_end = std::min(x0 + columns, width_);
    if (x_begin > x0) std::memset(dst, 0, sizeof(float) * (x_begin - x0) * cin_p_);
    if (x_end < x0 + columns) {
      std::memset(dst + (x_end - x0) * cin_p_, 0,
                  sizeof(float) * (x0 + columns - x_end) * cin_p_);
    }
    int64_t c0 = 0;
    for (const Plane& p : a.inputs) {
      const auto* src = static_cast<const Elem*>(p.data) +
                        (n * height_ + y) * width_ * p.pixel_stride;
      for (int64_t x = x_begin; x < x_end; ++x) {
        widen_channels(src + x * p.pixel_stride, kInput, dst + (x - x0) * cin_p_ + c0,
                       p.channels);
      }
      c0 += p.channels;
    }
  }

  FALSR_WINO_AVX512 void run_tasks_avx512(const CellConvArgs& a, int64_t begin,
                                          int64_t end) const {
    const int64_t TB = tile_block_, cin_p = cin_p_, cout_p = cout_p_;
    const int64_t window_cols = 2 * TB + 2;
    const int64_t window_row = window_cols * cin_p;
    // xi planes of V and M are 64 bytes more than a multiple of their size apart: with
    // power-of-two-ish strides (e.g. 48 x 64 floats = 3 x 4 KiB) the 16 xi of one tile
    // would all map to one L1 set.
    const int64_t v_xi = TB * kChunk + 64 / int64_t{sizeof(Elem)}, m_xi = TB * cout_p + 16;
    // TB is a multiple of 12: the microkernels' rounded-up tiles stay inside the buffers.
    AlignedArray<float> ring(4 * window_row), m_buf(16 * m_xi);
    AlignedArray<Elem> v_buf(16 * v_xi);
    Elem* v = v_buf.p;
    float* m = m_buf.p;
    const Elem* u = u_.data();
    const __mmask16 tail_mask =
        cout_ % 16 == 0 ? __mmask16(0xffff) : __mmask16((1u << (cout_ % 16)) - 1);

    const bool stream = streams_output(a);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t band = task % bands_;
      const int64_t col_block = (task / bands_) % col_blocks_;
      const int64_t n = task / bands_ / col_blocks_;
      const int64_t ty0 = band * kBandTiles, ty1 = std::min(tiles_h_, ty0 + kBandTiles);
      const int64_t t0 = col_block * block_tiles_;
      const int64_t tiles = std::min(block_tiles_, tiles_w_ - t0);
      const int64_t x0 = 2 * t0 - 1;  // image column of window column 0
      const int64_t columns = 2 * tiles + 2;

      // The band above in the same column block (the previous task, usually) left this
      // band's first two window rows in the ring.
      const bool continues = task > begin && band > 0;
      for (int64_t ty = ty0; ty < ty1; ++ty) {
        // Window rows 2ty-1 .. 2ty+2; image row y lives in ring slot (y + 1) & 3.
        const int64_t first_new = ty == ty0 && !continues ? 2 * ty - 1 : 2 * ty + 1;
        for (int64_t y = first_new; y <= 2 * ty + 2; ++y) {
          gather_window_row(a, n, y, x0, columns, ring.p + ((y + 1) & 3) * window_row);
        }
        const float* rows[4];
        for (int i = 0; i < 4; ++i) rows[i] = ring.p + ((2 * ty + i) & 3) * window_row;

        // Channel chunk by chunk: V holds one chunk, M accumulates over the chunks.
        for (int64_t k0 = 0; k0 < cin_p; k0 += kChunk) {
          const int64_t kc = std::min(kChunk, cin_p - k0);
          Kernels::transform_inputs(rows, cin_p, k0, kc, tiles, v, v_xi);
          for (int64_t xi = 0; xi < 16; ++xi) {
            gemm_tiles<Kernels>(v + xi * v_xi, u + (xi * cin_p + k0) * cout_p, m + xi * m_xi,
                                tiles, kc, cout_p, k0 > 0);
          }
        }
        epilogue(a, n, ty, t0, tiles, m, m_xi, tail_mask, stream);
      }
    }
    if (stream) _mm_sfence();  // order the streamed stores before the caller's sync
  }

  // Output transform A^T M A of a tile row + bias, ReLU, residual and the store (fp32
  // or bf16); outputs past the image's right or bottom edge are discarded.
  FALSR_WINO_AVX512 FALSR_WINO_INLINE void epilogue(const CellConvArgs& a, int64_t n, int64_t ty,
                                                    int64_t t0, int64_t tiles, const float* m,
                                                    int64_t m_xi, __mmask16 tail_mask,
                                                    bool stream) const {
    const int64_t cout_p = cout_p_, cout_vectors = cout_p / 16;
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t ox = 2 * (t0 + t);
      for (int64_t cv = 0; cv < cout_vectors; ++cv) {
        const __mmask16 mask = cv + 1 == cout_vectors ? tail_mask : __mmask16(0xffff);
        __m512 y[2][2];
        output_tile(m + t * cout_p + 16 * cv, m_xi, y);
        const __m512 b = _mm512_loadu_ps(bias_.data() + 16 * cv);
        for (int i = 0; i < 2; ++i) {
          const int64_t oy = 2 * ty + i;
          if (oy >= height_) break;
          for (int j = 0; j < 2; ++j) {
            if (ox + j >= width_) break;
            const int64_t pixel = (n * height_ + oy) * width_ + ox + j;
            __m512 r = _mm512_add_ps(y[i][j], b);
            if (a.relu) r = _mm512_maskz_max_ps(kAll, r, _mm512_setzero_ps());
            if (a.has_residual) {
              r = _mm512_add_ps(r, load_channels(a.residual.data, a.residual.dtype,
                                                 pixel * a.residual.pixel_stride + 16 * cv,
                                                 mask));
            }
            if (stream) {
              _mm512_stream_ps(static_cast<float*>(a.out.data) + pixel * a.out.pixel_stride +
                                   16 * cv,
                               r);
            } else {
              store_channels(a.out.data, a.out.dtype, pixel * a.out.pixel_stride + 16 * cv,
                             mask, r);
            }
          }
        }
      }
    }
  }

  int64_t batch_, height_, width_, cout_, cout_p_;
  int64_t cin_ = 0, cin_p_ = 0;
  int64_t tiles_w_ = 0, tiles_h_ = 0, tile_block_ = 0, block_tiles_ = 0, col_blocks_ = 0,
          bands_ = 0;
  std::vector<Elem> u_;        // packed by Kernels::pack_weight, zero padded
  std::vector<float> bias_;  // [cout_p], zero padded
};

#endif  // FALSR_WINO_HAS_X86

}  // namespace falsr::core::winograd
