// Winograd F(2x2, 3x3) path of the cell convolution for all-bf16 inputs (AVX-512 BF16):
// the fp32 Winograd path's scheme (cell_conv_winograd.cpp: tasks, window ring, channel
// chunks, fused epilogue) with the 16 GEMMs M[xi] = V[xi] * U[xi] on vdpbf16ps, which
// does twice the MACs per instruction of fp32 FMA:
//
//  - U = G g G^T is computed once per plan in fp64 from the fp32 weights, rounded to
//    bf16 and packed [xi][ci pair][cout_p][2] (Cin, Cout padded with zeros to 16);
//  - the window ring holds the bf16 inputs as fp32 (exact), V = B^T d B is computed in
//    fp32 and rounded once to bf16, stored [xi][tile][ci] so a channel pair is one
//    32-bit broadcast;
//  - M accumulates in fp32; A^T M A, bias, ReLU, residual and the one rounding to the
//    output dtype are the fp32 path's (cell_conv_winograd_kernels.h).
//
// Accuracy: on top of the bf16 inputs, V and U are rounded to bf16 (relative 2^-9 each),
// and V, U mix several inputs / weights, so the error is a few times the direct bf16
// path's (which only rounds the weights); the test measures both against a double
// reference. vdpbf16ps flushes denormals (DAZ / FTZ).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/cell_conv.h"
#include "core/cell_conv_winograd_bf16_kernels.h"

namespace falsr::core {

std::unique_ptr<CellConvPlan> make_winograd_bf16_cell_conv_plan(const CellConvArgs& a, Isa isa);

namespace {

constexpr int64_t kMinChannels = 16;  // below this the transforms do not pay

#if FALSR_WINO_HAS_X86

constexpr int64_t kStreamBytes = int64_t{16} << 20;  // fp32 outputs from this size stream
constexpr int64_t kBandTiles = 4;  // tile rows (2 output rows each) per task
// Input channels per GEMM pass (V holds one chunk): 64 pairs, so a 64-cout U panel is
// 16 KiB and stays in L1 across the block's tiles.
constexpr int64_t kChunk = 128;

int64_t round_up16(int64_t v) { return (v + 15) / 16 * 16; }

// 64-byte aligned, zero-initialised buffer of `bytes`.
struct AlignedBytes {
  void* p = nullptr;
  explicit AlignedBytes(int64_t bytes) {
    const size_t size = (static_cast<size_t>(bytes) + 63) / 64 * 64;
    p = std::aligned_alloc(64, size);
    if (p == nullptr) throw std::bad_alloc();
    std::memset(p, 0, size);
  }
  ~AlignedBytes() { std::free(p); }
  AlignedBytes(const AlignedBytes&) = delete;
  AlignedBytes& operator=(const AlignedBytes&) = delete;
  float* floats() const { return static_cast<float*>(p); }
  uint16_t* halves() const { return static_cast<uint16_t*>(p); }
};

// Tiles per column block: a multiple of 12 (the microkernels take 6 or 12 tiles) such
// that the fp32 window ring, V (bf16, one chunk) and M stay inside a 1 MiB L2 beside the
// U panels streaming through.
int64_t choose_tile_block(int64_t cin_p, int64_t cout_p) {
  const int64_t bytes_per_tile =
      4 * 8 * cin_p + 2 * 16 * std::min(kChunk, cin_p) + 4 * 16 * cout_p;  // ring + V + M
  const int64_t budget = 768 * 1024;
  return std::clamp<int64_t>(budget / bytes_per_tile / 12 * 12, 12, 48);
}

class WinogradBf16Plan final : public CellConvPlan {
 public:
  explicit WinogradBf16Plan(const CellConvArgs& a)
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

  std::string path() const override { return "avx512_bf16/winograd2"; }

 private:
  // U[xi][ci / 2][co][ci % 2] = bf16((G g G^T)[xi]), G = [1 0 0; 1/2 1/2 1/2;
  // 1/2 -1/2 1/2; 0 0 1], in fp64 from the fp32 weights, rounded once.
  void transform_weights(const float* w) {
    u_.assign(static_cast<size_t>(16 * cin_p_ * cout_p_), 0);
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
            const int64_t xi = 4 * i + j;
            u_[static_cast<size_t>(((xi * (cin_p_ / 2) + ci / 2) * cout_p_ + co) * 2 + ci % 2)] =
                float_to_bf16(static_cast<float>(v));
          }
      }
    }
  }

  void gather_window_row(const CellConvArgs& a, int64_t n, int64_t y, int64_t x0,
                         int64_t columns, float* dst) const;
  void run_tasks_bf16(const CellConvArgs& a, int64_t begin, int64_t end) const;

  int64_t batch_, height_, width_, cout_, cout_p_;
  int64_t cin_ = 0, cin_p_ = 0;
  int64_t tiles_w_ = 0, tiles_h_ = 0, tile_block_ = 0, col_blocks_ = 0, bands_ = 0;
  std::vector<uint16_t> u_;  // [16][cin_p / 2][cout_p][2] bf16
  std::vector<float> bias_;  // [cout_p], zero padded
};

// Non-temporal stores for large fp32 outputs made of whole 64-byte lines (as the fp32
// Winograd path: skips the read-for-ownership of lines that would not stay cached).
bool streams_output(const CellConvArgs& a) {
  const int64_t bytes = a.batch * a.height * a.width * a.out.pixel_stride * 4;
  return a.out.dtype == DType::F32 && a.out_channels % 16 == 0 && a.out.pixel_stride % 16 == 0 &&
         reinterpret_cast<uintptr_t>(a.out.data) % 64 == 0 && bytes >= kStreamBytes;
}

// 16 bf16 as fp32 (exact). maskz forms: GCC 12 -Wall flags the unmasked forms'
// undefined pass-through operand as maybe-uninitialized.
FALSR_WINO_BF16 FALSR_WINO_INLINE __m512i widen16(__m256i h) {
  using winograd::kAll;
  return _mm512_maskz_slli_epi32(kAll, _mm512_maskz_cvtepu16_epi32(kAll, h), 16);
}

// A pixel's bf16 channels widened to fp32: masked vector copies per 16.
FALSR_WINO_BF16 inline void widen_bf16(const uint16_t* src, float* dst, int64_t count) {
  int64_t c = 0;
  for (; c + 16 <= count; c += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + c));
    _mm512_storeu_si512(dst + c, widen16(h));
  }
  if (c < count) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (count - c)) - 1);
    _mm512_mask_storeu_epi32(dst + c, mask, widen16(_mm256_maskz_loadu_epi16(mask, src + c)));
  }
}

// dst[c * cin_p + ci] = concat(inputs)[n, y, x0 + c, ci] as fp32 for c < columns, zero
// outside the image; the channel padding of dst is never written (stays zero).
FALSR_WINO_BF16 void WinogradBf16Plan::gather_window_row(const CellConvArgs& a, int64_t n,
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
    const uint16_t* src =
        static_cast<const uint16_t*>(p.data) + (n * height_ + y) * width_ * p.pixel_stride;
    for (int64_t x = x_begin; x < x_end; ++x) {
      widen_bf16(src + x * p.pixel_stride, dst + (x - x0) * cin_p_ + c0, p.channels);
    }
    c0 += p.channels;
  }
}

void WinogradBf16Plan::run_tasks(const CellConvArgs& a, int64_t begin, int64_t end) const {
  run_tasks_bf16(a, begin, end);
}

// m[t][co] (+)= sum_k v[t][k] u[k][co] over one channel chunk of kc channels (kc / 2
// pairs) for one xi: t < tiles (rounded up to the microkernel's tile count, which the
// buffers allow), co < cout_p. u points at the chunk's first pair; pairs are 2 cout_p
// bf16 apart.
FALSR_WINO_BF16 void gemm_tiles(const uint16_t* v, const uint16_t* u, float* m, int64_t tiles,
                                int64_t kc, int64_t cout_p, bool accumulate) {
  using winograd_bf16::gemm_micro;
  const int64_t pairs = kc / 2, ldu = 2 * cout_p;
  int64_t co = 0;
  for (; co + 64 <= cout_p; co += 64) {
    for (int64_t t = 0; t < tiles; t += 6) {
      gemm_micro<6, 4>(v + t * kc, kc, u + 2 * co, ldu, pairs, m + t * cout_p + co, cout_p,
                       accumulate);
    }
  }
  if (co + 32 <= cout_p) {
    for (int64_t t = 0; t < tiles; t += 12) {
      gemm_micro<12, 2>(v + t * kc, kc, u + 2 * co, ldu, pairs, m + t * cout_p + co, cout_p,
                        accumulate);
    }
    co += 32;
  }
  if (co < cout_p) {  // 16 couts left
    for (int64_t t = 0; t < tiles; t += 12) {
      gemm_micro<12, 1>(v + t * kc, kc, u + 2 * co, ldu, pairs, m + t * cout_p + co, cout_p,
                        accumulate);
    }
  }
}

FALSR_WINO_BF16 void WinogradBf16Plan::run_tasks_bf16(const CellConvArgs& a, int64_t begin,
                                                      int64_t end) const {
  using namespace winograd;
  const int64_t TB = tile_block_, cin_p = cin_p_, cout_p = cout_p_;
  const int64_t window_cols = 2 * TB + 2;
  const int64_t window_row = window_cols * cin_p;
  // xi planes of V and M are 64 bytes more than a multiple of their size apart, so the
  // 16 xi of one tile do not all map to one L1 set. V is in bf16 elements.
  const int64_t v_xi = TB * kChunk + 32, m_xi = TB * cout_p + 16;
  // TB is a multiple of 12: the microkernels' rounded-up tiles stay inside the buffers.
  AlignedBytes ring(4 * 4 * window_row), v_buf(2 * 16 * v_xi), m_buf(4 * 16 * m_xi);
  uint16_t* v = v_buf.halves();
  float* m = m_buf.floats();
  const uint16_t* u = u_.data();
  const int64_t cin_pairs = cin_p / 2;
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
        gather_window_row(a, n, y, x0, columns, ring.floats() + ((y + 1) & 3) * window_row);
      }
      const float* rows[4];
      for (int i = 0; i < 4; ++i) rows[i] = ring.floats() + ((2 * ty + i) & 3) * window_row;

      // Channel chunk by chunk: V holds one chunk, M accumulates over the chunks.
      for (int64_t k0 = 0; k0 < cin_p; k0 += kChunk) {
        const int64_t kc = std::min(kChunk, cin_p - k0);
        for (int64_t t = 0; t < tiles; ++t) {
          for (int64_t c = 0; c < kc; c += 16) {
            const float* d[4];
            for (int i = 0; i < 4; ++i) d[i] = rows[i] + 2 * t * cin_p + k0 + c;
            winograd_bf16::input_tile(d, cin_p, v + t * kc + c, v_xi);
          }
        }
        for (int64_t xi = 0; xi < 16; ++xi) {
          gemm_tiles(v + xi * v_xi, u + (xi * cin_pairs + k0 / 2) * 2 * cout_p, m + xi * m_xi,
                     tiles, kc, cout_p, k0 > 0);
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

std::unique_ptr<CellConvPlan> make_winograd_bf16_cell_conv_plan(const CellConvArgs& a, Isa isa) {
  if (static_cast<int>(isa) < static_cast<int>(Isa::Avx512Bf16) ||
      static_cast<int>(cpu_isa()) < static_cast<int>(Isa::Avx512Bf16) ||
      a.algo != ConvAlgo::Auto || a.kernel != 3 || a.groups != 1 ||
      a.out_channels < kMinChannels || a.inputs.empty()) {
    return nullptr;
  }
  int64_t cin = 0;
  for (const Plane& p : a.inputs) {
    if (p.dtype != DType::BF16) return nullptr;
    cin += p.channels;
  }
  if (cin < kMinChannels) return nullptr;
#if FALSR_WINO_HAS_X86
  return std::make_unique<WinogradBf16Plan>(a);
#else
  return nullptr;
#endif
}

}  // namespace falsr::core
