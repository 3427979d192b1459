// Winograd F(2x2, 3x3) fp32 path of the cell convolution (AVX-512): 2.25x fewer
// multiplications than the direct convolution, for the dense 3x3 convs that dominate
// FALSR-A. Scheme (kernels in cell_conv_winograd_kernels.h):
//
//  - the weights are transformed once per plan, U[xi][ci][co] = (G g G^T)[xi], in fp64
//    then rounded; Cin and Cout are padded with zeros to multiples of 16;
//  - a task is (n, column block of TB 2x2 tiles, band of kBandTiles tile rows). It keeps
//    a ring of 4 window rows, each the concat of the inputs over the block's 2 TB + 2
//    columns (zero outside the image: the conv's padding), so every input pixel is
//    gathered about once, and all of a task's data stays in L2:
//  - per tile row and chunk of 64 input channels: V[xi][tile][ci] = B^T d B for the
//    block's tiles, 16 GEMMs M[xi] += V[xi] * U[xi] with register-blocked microkernels
//    (U panels stay in L1 across the block's tiles); then A^T M A fused with bias,
//    ReLU, residual and the store (fp32 or bf16; large fp32 outputs streamed); outputs
//    past the image's right or bottom edge (odd sizes) are computed on zeros and
//    discarded.
//
// Consecutive tasks are consecutive bands of one column block, so a band's two halo rows
// are still in cache. Accuracy: the transforms add a few fp32 roundings per term; the
// test measures the error against a double reference (about 1e-6 relative).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core/cell_conv_paths.h"
#include "core/cell_conv_winograd_kernels.h"

namespace falsr::core {
namespace {

constexpr int64_t kMinChannels = 16;  // below this the transforms do not pay

#if FALSR_WINO_HAS_X86  // the whole path is AVX-512

constexpr int64_t kStreamBytes = int64_t{16} << 20;  // outputs from this size stream

constexpr int64_t kBandTiles = 4;  // tile rows (2 output rows each) per task
// Input channels per GEMM pass: V holds one chunk, so the tile block (and with it the
// reuse of U) need not shrink for wide concats.
constexpr int64_t kChunk = 64;

int64_t round_up16(int64_t v) { return (v + 15) / 16 * 16; }

// 64-byte aligned, zero-initialised float buffer.
struct AlignedFloats {
  float* p = nullptr;
  explicit AlignedFloats(int64_t count) {
    const size_t bytes = (static_cast<size_t>(count) * sizeof(float) + 63) / 64 * 64;
    p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (p == nullptr) throw std::bad_alloc();
    std::memset(p, 0, bytes);
  }
  ~AlignedFloats() { std::free(p); }
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
};

// Tiles per column block: a multiple of 12 (the microkernels take 6 or 12 tiles) such
// that the window ring, V (one channel chunk) and M stay well inside a 1 MiB L2 beside
// the U panels streaming through. More tiles per block = more reuse of each U load.
int64_t choose_tile_block(int64_t cin_p, int64_t cout_p) {
  const int64_t bytes_per_tile =
      4 * (8 * cin_p + 16 * std::min(kChunk, cin_p) + 16 * cout_p);  // ring + V + M
  const int64_t budget = 768 * 1024;
  return std::clamp<int64_t>(budget / bytes_per_tile / 12 * 12, 12, 48);
}

class WinogradPlan final : public CellConvPlan {
 public:
  explicit WinogradPlan(const CellConvArgs& a)
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
    bands_ = (tiles_h_ + kBandTiles - 1) / kBandTiles;
    transform_weights(a.weight);
    bias_.assign(static_cast<size_t>(cout_p_), 0.0f);
    if (a.bias != nullptr) std::copy(a.bias, a.bias + cout_, bias_.begin());
  }

  int64_t num_tasks() const override { return batch_ * col_blocks_ * bands_; }

  void run_tasks(const CellConvArgs& a, int64_t begin, int64_t end) const override;

  std::string path() const override { return "avx512/winograd2"; }

 private:
  // U[xi][ci][co] = G g G^T with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
  void transform_weights(const float* w) {
    u_.assign(static_cast<size_t>(16 * cin_p_ * cout_p_), 0.0f);
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
            u_[static_cast<size_t>(((4 * i + j) * cin_p_ + ci) * cout_p_ + co)] =
                static_cast<float>(v);
          }
      }
    }
  }

  void gather_window_row(const CellConvArgs& a, int64_t n, int64_t y, int64_t x0,
                         int64_t columns, float* dst) const;
  void run_tasks_avx512(const CellConvArgs& a, int64_t begin, int64_t end) const;

  int64_t batch_, height_, width_, cout_, cout_p_;
  int64_t cin_ = 0, cin_p_ = 0;
  int64_t tiles_w_ = 0, tiles_h_ = 0, tile_block_ = 0, col_blocks_ = 0, bands_ = 0;
  std::vector<float> u_;     // [16][cin_p][cout_p]
  std::vector<float> bias_;  // [cout_p], zero padded
};

// Non-temporal stores for large fp32 outputs made of whole 64-byte lines: the output
// would not stay in cache anyway, and streaming it skips the read-for-ownership of every
// line (measured about +10 % on 64->64 at 480x480).
bool streams_output(const CellConvArgs& a) {
  const int64_t bytes = a.batch * a.height * a.width * a.out.pixel_stride * 4;
  return a.out.dtype == DType::F32 && a.out_channels % 16 == 0 && a.out.pixel_stride % 16 == 0 &&
         reinterpret_cast<uintptr_t>(a.out.data) % 64 == 0 && bytes >= kStreamBytes;
}

// A pixel's channels: inline masked vector copies beat a memcpy call per pixel and plane.
FALSR_WINO_AVX512 inline void copy_floats(const float* src, float* dst, int64_t count) {
  int64_t c = 0;
  for (; c + 16 <= count; c += 16) _mm512_storeu_ps(dst + c, _mm512_loadu_ps(src + c));
  if (c < count) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (count - c)) - 1);
    _mm512_mask_storeu_ps(dst + c, mask, _mm512_maskz_loadu_ps(mask, src + c));
  }
}

// dst[c * cin_p + ci] = concat(inputs)[n, y, x0 + c, ci] for c < columns, zero outside
// the image; the channel padding of dst is never written (stays zero).
FALSR_WINO_AVX512 void WinogradPlan::gather_window_row(const CellConvArgs& a, int64_t n,
                                                       int64_t y, int64_t x0, int64_t columns,
                                                       float* dst) const {
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
    const float* src =
        static_cast<const float*>(p.data) + (n * height_ + y) * width_ * p.pixel_stride;
    for (int64_t x = x_begin; x < x_end; ++x) {
      copy_floats(src + x * p.pixel_stride, dst + (x - x0) * cin_p_ + c0, p.channels);
    }
    c0 += p.channels;
  }
}

void WinogradPlan::run_tasks(const CellConvArgs& a, int64_t begin, int64_t end) const {
  run_tasks_avx512(a, begin, end);
}

// m[t][co] (+)= sum_k v[t][k] u[k][co] over one channel chunk (k < kc, so the u panel of a
// microkernel, kc x 64 floats at most, stays in L1) for one xi: t < tiles (rounded up to
// the microkernel's tile count, which the buffers allow), co < cout_p.
FALSR_WINO_AVX512 void gemm_tiles(const float* v, const float* u, float* m, int64_t tiles,
                                  int64_t kc, int64_t cout_p, bool accumulate) {
  using winograd::gemm_micro;
  int64_t co = 0;
  for (; co + 64 <= cout_p; co += 64) {
    for (int64_t t = 0; t < tiles; t += 6) {
      gemm_micro<6, 4>(v + t * kc, kc, u + co, cout_p, kc, m + t * cout_p + co, cout_p,
                       accumulate);
    }
  }
  if (co + 32 <= cout_p) {
    for (int64_t t = 0; t < tiles; t += 12) {
      gemm_micro<12, 2>(v + t * kc, kc, u + co, cout_p, kc, m + t * cout_p + co, cout_p,
                        accumulate);
    }
    co += 32;
  }
  if (co < cout_p) {  // 16 couts left
    for (int64_t t = 0; t < tiles; t += 12) {
      gemm_micro<12, 1>(v + t * kc, kc, u + co, cout_p, kc, m + t * cout_p + co, cout_p,
                        accumulate);
    }
  }
}

FALSR_WINO_AVX512 void WinogradPlan::run_tasks_avx512(const CellConvArgs& a, int64_t begin,
                                                      int64_t end) const {
  using namespace winograd;
  const int64_t TB = tile_block_, cin_p = cin_p_, cout_p = cout_p_;
  const int64_t window_cols = 2 * TB + 2;
  const int64_t window_row = window_cols * cin_p;
  // xi planes of V and M are 64 bytes more than a multiple of their size apart: with
  // power-of-two-ish strides (e.g. 48 x 64 floats = 3 x 4 KiB) the 16 xi of one tile
  // would all map to one L1 set.
  const int64_t v_xi = TB * kChunk + 16, m_xi = TB * cout_p + 16;
  AlignedFloats ring(4 * window_row), v_buf(16 * v_xi), m_buf(16 * m_xi);
  float* v = v_buf.p;
  float* m = m_buf.p;
  const float* u = u_.data();
  const int64_t cout_vectors = cout_p / 16;
  const __mmask16 tail_mask =
      cout_ % 16 == 0 ? __mmask16(0xffff) : __mmask16((1u << (cout_ % 16)) - 1);

  const bool stream = streams_output(a);
  for (int64_t task = begin; task < end; ++task) {
    const int64_t band = task % bands_;
    const int64_t col_block = (task / bands_) % col_blocks_;
    const int64_t n = task / bands_ / col_blocks_;
    const int64_t ty0 = band * kBandTiles, ty1 = std::min(tiles_h_, ty0 + kBandTiles);
    const int64_t t0 = col_block * TB;
    const int64_t tiles = std::min(TB, tiles_w_ - t0);
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
        for (int64_t t = 0; t < tiles; ++t) {
          for (int64_t c = 0; c < kc; c += 16) {
            const float* d[4];
            for (int i = 0; i < 4; ++i) d[i] = rows[i] + 2 * t * cin_p + k0 + c;
            input_tile(d, cin_p, v + t * kc + c, v_xi);
          }
        }
        for (int64_t xi = 0; xi < 16; ++xi) {
          gemm_tiles(v + xi * v_xi, u + (xi * cin_p + k0) * cout_p, m + xi * m_xi, tiles, kc,
                     cout_p, k0 > 0);
        }
      }

      // Output transform + epilogue.
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
  }
  if (stream) _mm_sfence();  // order the streamed stores before the caller's sync
}

#endif  // FALSR_WINO_HAS_X86

}  // namespace

std::unique_ptr<CellConvPlan> make_winograd_cell_conv_plan(const CellConvArgs& a, Isa isa) {
  if (isa < Isa::Avx512 || a.algo == ConvAlgo::Direct ||
      a.kernel != 3 || a.groups != 1 || a.out_channels < kMinChannels) {
    return nullptr;
  }
  int64_t cin = 0;
  for (const Plane& p : a.inputs) {
    if (p.dtype != DType::F32) return nullptr;
    cin += p.channels;
  }
  if (cin < kMinChannels) return nullptr;
#if FALSR_WINO_HAS_X86
  return std::make_unique<WinogradPlan>(a);
#else
  return nullptr;
#endif
}

}  // namespace falsr::core
