// Sub-pixel shuffle kernels (see pixel_shuffle.h).
//
// Memory-bound: every element is read once and written once, so the loops are
// arranged to write the output strictly sequentially within a task:
//  - NCHW: a task is (n, c_out, h); for each i in [0, s) it writes one output row
//    of W*s elements by interleaving s input rows (one per j) element-wise.
//    Each input row is read sequentially too (s*s streams per task).
//    For 4-byte elements and s = 2 (the FALSR upsampler), an AVX-512 kernel interleaves
//    16 + 16 elements with two two-source permutes and, for outputs too big to stay
//    in cache, streams the rows past the cache (no read-for-ownership of the output).
//  - NHWC: a task is (n, h); for each i it writes one output row of W*s*C_out
//    elements. TF order copies a contiguous block of s*C_out elements per input
//    pixel; PyTorch order gathers with a stride of s*s channels.
// Element copies go through std::memcpy of a constant size (one move, and no
// strict-aliasing trouble: the buffers really hold float / bfloat16 objects).
#include "core/pixel_shuffle.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/element.h"
#include "core/isa.h"
#include "core/parallel.h"
#include "core/shapes.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif


namespace falsr::core {
namespace {

template <typename T>
inline void copy_elem(T* dst, const T* src) {
  std::memcpy(dst, src, sizeof(T));
}

// dst[k] = src[k], k < count, for short blocks (memcpy for long ones).
template <typename T>
inline void copy_block(T* __restrict dst, const T* __restrict src, int64_t count) {
  if (count * static_cast<int64_t>(sizeof(T)) >= 512) {
    std::memcpy(dst, src, static_cast<std::size_t>(count) * sizeof(T));
    return;
  }
  for (int64_t k = 0; k < count; ++k) {
    copy_elem(dst + k, src + k);
  }
}

// dst[x*S + j] = src[j][x] for x < w, j < S (S known at compile time).
template <typename T, int S>
inline void interleave_fixed(const T* const* src, T* __restrict dst, int64_t w) {
  const T* p[S];
  for (int j = 0; j < S; ++j) {
    p[j] = src[j];
  }
  for (int64_t x = 0; x < w; ++x) {
    for (int j = 0; j < S; ++j) {
      copy_elem(dst + x * S + j, p[j] + x);
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// dst[2x] = a[x], dst[2x + 1] = b[x] for x < w, 32-bit elements. `stream`: non-temporal
// stores where dst is 64-byte aligned (the caller fences before the data is read).
__attribute__((target("avx512f"))) void interleave2_u32_avx512(const uint32_t* a,
                                                               const uint32_t* b,
                                                               uint32_t* dst, int64_t w,
                                                               bool stream) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  int64_t x = 0;
  if (stream && reinterpret_cast<uintptr_t>(dst) % 64 == 0) {
    for (; x + 16 <= w; x += 16) {
      const __m512i va = _mm512_loadu_si512(a + x), vb = _mm512_loadu_si512(b + x);
      _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + 2 * x), _mm512_permutex2var_epi32(va, lo, vb));
      _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + 2 * x + 16), _mm512_permutex2var_epi32(va, hi, vb));
    }
  } else {
    for (; x + 16 <= w; x += 16) {
      const __m512i va = _mm512_loadu_si512(a + x), vb = _mm512_loadu_si512(b + x);
      _mm512_storeu_si512(dst + 2 * x, _mm512_permutex2var_epi32(va, lo, vb));
      _mm512_storeu_si512(dst + 2 * x + 16, _mm512_permutex2var_epi32(va, hi, vb));
    }
  }
  for (; x < w; ++x) {
    dst[2 * x] = a[x];
    dst[2 * x + 1] = b[x];
  }
}
__attribute__((target("avx512f"))) void store_fence() { _mm_sfence(); }
constexpr bool kHaveAvx512Interleave = true;
#else
void interleave2_u32_avx512(const uint32_t*, const uint32_t*, uint32_t*, int64_t, bool) {}
void store_fence() {}
constexpr bool kHaveAvx512Interleave = false;
#endif

// Outputs above this many bytes are written with streaming stores.
constexpr int64_t kStreamBytes = int64_t{8} << 20;

template <typename T>
inline void interleave_any(const T* const* src, T* __restrict dst, int64_t w, int64_t s) {
  for (int64_t x = 0; x < w; ++x) {
    for (int64_t j = 0; j < s; ++j) {
      copy_elem(dst + x * s + j, src[j] + x);
    }
  }
}

template <typename T>
void nchw_tasks(const T* in, T* out, const PixelShuffleGeometry& g, ChannelOrder order,
                int64_t begin, int64_t end) {
  const int64_t s = g.s;
  const int64_t H = g.h;
  const int64_t W = g.w;
  const int64_t C = g.c_out;
  const int64_t Ho = H * s;
  const int64_t Wo = W * s;
  const T* fixed_src[4];
  std::vector<const T*> dyn_src(s > 4 ? static_cast<std::size_t>(s) : 0);
  const T** src = s > 4 ? dyn_src.data() : fixed_src;
  const bool vec2 = kHaveAvx512Interleave && sizeof(T) == 4 && s == 2 &&
                    static_cast<int>(max_isa()) >= static_cast<int>(Isa::Avx512);
  const bool stream =
      vec2 && g.n * g.c_in * H * W * static_cast<int64_t>(sizeof(T)) >= kStreamBytes;

  for (int64_t t = begin; t < end; ++t) {
    const int64_t h = t % H;
    const int64_t nc = t / H;
    const int64_t c = nc % C;
    const int64_t n = nc / C;
    for (int64_t i = 0; i < s; ++i) {
      T* dst = out + ((n * C + c) * Ho + h * s + i) * Wo;
      for (int64_t j = 0; j < s; ++j) {
        const int64_t cin = ps_in_channel<int64_t>(c, i, j, s, C, order);
        src[j] = in + ((n * g.c_in + cin) * H + h) * W;
      }
      switch (s) {
        case 1:
          copy_block(dst, src[0], W);
          break;
        case 2:
          if constexpr (sizeof(T) == 4) {
            if (vec2) {
              interleave2_u32_avx512(reinterpret_cast<const uint32_t*>(src[0]),
                                     reinterpret_cast<const uint32_t*>(src[1]),
                                     reinterpret_cast<uint32_t*>(dst), W, stream);
              break;
            }
          }
          interleave_fixed<T, 2>(src, dst, W);
          break;
        case 3:
          interleave_fixed<T, 3>(src, dst, W);
          break;
        case 4:
          interleave_fixed<T, 4>(src, dst, W);
          break;
        default:
          interleave_any(src, dst, W, s);
      }
    }
  }
  if (stream) store_fence();  // streamed rows visible before the caller's threads join
}

// PyTorch order, NHWC, S known at compile time: each input pixel holds a
// [C][S][S] block; output row i gets its [S][C] transpose (i fixed). All S output
// rows of a task are written together so each input pixel is read once, as one
// sequential group of S*S elements per channel.
template <typename T, int S>
void nhwc_torch_fixed(const T* __restrict src_row, T* const* dst, int64_t W, int64_t C) {
  constexpr int SS = S * S;
  const int64_t block = S * C;
  const int64_t cin = SS * C;
  for (int64_t x = 0; x < W; ++x) {
    const T* __restrict px = src_row + x * cin;
    T* __restrict d[SS];
    for (int i = 0; i < S; ++i) {
      for (int j = 0; j < S; ++j) {
        d[i * S + j] = dst[i] + x * block + j * C;
      }
    }
    // Reads the pixel's channels sequentially, de-interleaves them into S*S runs.
    for (int64_t c = 0; c < C; ++c) {
      for (int k = 0; k < SS; ++k) {
        copy_elem(d[k] + c, px + c * SS + k);
      }
    }
  }
}

// dst[x*block + k] = src[x*src_stride + k] for x < rows, k < block: the TF-order NHWC
// copy. Small blocks of a common byte size get a constant-size memcpy (a few vector
// moves, no call); the FALSR case (8 channels x2, fp32) is 64 bytes.
template <std::size_t Bytes>
inline void copy_rows_fixed(unsigned char* __restrict dst, const unsigned char* __restrict src,
                            int64_t rows, int64_t src_stride) {
  for (int64_t x = 0; x < rows; ++x) {
    std::memcpy(dst + x * static_cast<int64_t>(Bytes), src + x * src_stride, Bytes);
  }
}

template <typename T>
inline void copy_rows(T* dst, const T* src, int64_t rows, int64_t block, int64_t src_stride) {
  auto* d = reinterpret_cast<unsigned char*>(dst);
  const auto* s = reinterpret_cast<const unsigned char*>(src);
  const int64_t bytes = block * static_cast<int64_t>(sizeof(T));
  const int64_t stride = src_stride * static_cast<int64_t>(sizeof(T));
  switch (bytes) {
    case 16:
      copy_rows_fixed<16>(d, s, rows, stride);
      return;
    case 32:
      copy_rows_fixed<32>(d, s, rows, stride);
      return;
    case 64:
      copy_rows_fixed<64>(d, s, rows, stride);
      return;
    case 128:
      copy_rows_fixed<128>(d, s, rows, stride);
      return;
    default:
      for (int64_t x = 0; x < rows; ++x) {
        copy_block(dst + x * block, src + x * src_stride, block);
      }
  }
}

template <typename T>
void nhwc_tasks(const T* in, T* out, const PixelShuffleGeometry& g, ChannelOrder order,
                int64_t begin, int64_t end) {
  const int64_t s = g.s;
  const int64_t H = g.h;
  const int64_t W = g.w;
  const int64_t C = g.c_out;
  const int64_t Cin = g.c_in;
  const int64_t Ho = H * s;
  const int64_t Wo = W * s;
  const int64_t block = s * C;  // output elements per input pixel and sub-row i

  for (int64_t t = begin; t < end; ++t) {
    const int64_t h = t % H;
    const int64_t n = t / H;
    const T* src_row = in + (n * H + h) * W * Cin;
    if (order == ChannelOrder::Torch && s >= 2 && s <= 4) {
      T* dst[4];
      for (int64_t i = 0; i < s; ++i) {
        dst[i] = out + (n * Ho + h * s + i) * Wo * C;
      }
      if (s == 2) {
        nhwc_torch_fixed<T, 2>(src_row, dst, W, C);
      } else if (s == 3) {
        nhwc_torch_fixed<T, 3>(src_row, dst, W, C);
      } else {
        nhwc_torch_fixed<T, 4>(src_row, dst, W, C);
      }
      continue;
    }
    for (int64_t i = 0; i < s; ++i) {
      T* dst = out + (n * Ho + h * s + i) * Wo * C;
      if (order == ChannelOrder::TF) {
        // in channels [(i*s)*C, (i*s + s)*C) of each pixel, in order.
        if (s == 1) {
          copy_block(dst, src_row, W * Cin);
          continue;
        }
        copy_rows(dst, src_row + i * block, W, block, Cin);
      } else {
        // out[(x*s + j)*C + c] = in[x*Cin + c*s*s + i*s + j]
        const int64_t ss = s * s;
        for (int64_t x = 0; x < W; ++x) {
          const T* px = src_row + x * Cin + i * s;
          T* d = dst + x * block;
          for (int64_t j = 0; j < s; ++j) {
            for (int64_t c = 0; c < C; ++c) {
              copy_elem(d + j * C + c, px + c * ss + j);
            }
          }
        }
      }
    }
  }
}

template <typename T>
void run_tasks_typed(const void* in, void* out, const PixelShuffleGeometry& g, ChannelOrder order,
                     Layout layout, int64_t begin, int64_t end) {
  const T* src = static_cast<const T*>(in);
  T* dst = static_cast<T*>(out);
  if (layout == Layout::NCHW) {
    nchw_tasks<T>(src, dst, g, order, begin, end);
  } else {
    nhwc_tasks<T>(src, dst, g, order, begin, end);
  }
}

// No checks, no throw: safe to call inside an OpenMP region.
void run_tasks(const void* in, void* out, const PixelShuffleGeometry& g, std::size_t elem_size,
               ChannelOrder order, Layout layout, int64_t begin, int64_t end) noexcept {
  switch (elem_size) {
    case 1:
      run_tasks_typed<UInt<1>::type>(in, out, g, order, layout, begin, end);
      break;
    case 2:
      run_tasks_typed<UInt<2>::type>(in, out, g, order, layout, begin, end);
      break;
    case 4:
      run_tasks_typed<UInt<4>::type>(in, out, g, order, layout, begin, end);
      break;
    default:
      run_tasks_typed<UInt<8>::type>(in, out, g, order, layout, begin, end);
      break;
  }
}

void check_geometry(const PixelShuffleGeometry& g) {
  // Re-derive from the primary fields so a hand-built struct is validated too.
  const PixelShuffleGeometry ok = make_pixel_shuffle_geometry(g.n, g.c_in, g.h, g.w, g.s);
  if (ok.c_out != g.c_out) {
    fail_invalid("pixel_shuffle: inconsistent geometry: c_out is " + std::to_string(g.c_out) +
                 " but c_in / (scale*scale) is " + std::to_string(ok.c_out));
  }
}

void check_enums(ChannelOrder order, Layout layout) {
  if (order != ChannelOrder::Torch && order != ChannelOrder::TF) {
    fail_invalid("pixel_shuffle: unknown channel order " +
                 std::to_string(static_cast<int>(order)));
  }
  if (layout != Layout::NCHW && layout != Layout::NHWC) {
    fail_invalid("pixel_shuffle: unknown layout " + std::to_string(static_cast<int>(layout)));
  }
}

void check_buffers(const void* in, void* out, const PixelShuffleGeometry& g,
                   std::size_t elem_size) {
  const int64_t numel = pixel_shuffle_numel(g);
  const int64_t bytes = checked_bytes(numel, elem_size, "pixel_shuffle: buffer size in bytes");
  check_pointer(in, numel, "pixel_shuffle: input");
  check_pointer(out, numel, "pixel_shuffle: output");
  if (numel > 0) {
    const auto a = reinterpret_cast<uintptr_t>(in);
    const auto b = reinterpret_cast<uintptr_t>(out);
    const auto nb = static_cast<uintptr_t>(bytes);
    if (a < b + nb && b < a + nb) {
      fail_invalid("pixel_shuffle: input and output buffers overlap (the op is not in-place)");
    }
  }
}

}  // namespace

PixelShuffleGeometry make_pixel_shuffle_geometry(int64_t n, int64_t c_in, int64_t h, int64_t w,
                                                 int64_t scale) {
  check_positive(scale, "pixel_shuffle: scale");
  check_non_negative(n, "pixel_shuffle: batch size N");
  check_non_negative(c_in, "pixel_shuffle: input channels C");
  check_non_negative(h, "pixel_shuffle: height H");
  check_non_negative(w, "pixel_shuffle: width W");
  const int64_t ss = checked_mul(scale, scale, "pixel_shuffle: scale*scale");
  if (c_in % ss != 0) {
    fail_invalid("pixel_shuffle: input channels (" + std::to_string(c_in) +
                 ") must be divisible by scale*scale (" + std::to_string(scale) + "*" +
                 std::to_string(scale) + " = " + std::to_string(ss) + ")");
  }
  checked_mul(h, scale, "pixel_shuffle: output height H*scale");
  checked_mul(w, scale, "pixel_shuffle: output width W*scale");
  // The whole tensor (and any offset into it) must be addressable in int64 bytes.
  checked_bytes(checked_numel({n, c_in, h, w}, "pixel_shuffle: number of elements"), 8,
                "pixel_shuffle: tensor size in bytes");
  return PixelShuffleGeometry{n, c_in, h, w, scale, c_in / ss};
}

int64_t pixel_shuffle_numel(const PixelShuffleGeometry& g) { return g.n * g.c_in * g.h * g.w; }

int64_t pixel_shuffle_num_tasks(const PixelShuffleGeometry& g, Layout layout) {
  return layout == Layout::NCHW ? g.n * g.c_out * g.h : g.n * g.h;
}

int64_t pixel_shuffle_task_elems(const PixelShuffleGeometry& g, Layout layout) {
  const int64_t row = g.s * g.s * g.w;  // s output rows of W*s elements
  return layout == Layout::NCHW ? row : row * g.c_out;
}

void pixel_shuffle_tasks(const void* in, void* out, const PixelShuffleGeometry& g,
                         std::size_t elem_size, ChannelOrder order, Layout layout, int64_t begin,
                         int64_t end) {
  check_geometry(g);
  check_elem_size(elem_size);
  check_enums(order, layout);
  const int64_t tasks = pixel_shuffle_num_tasks(g, layout);
  if (begin < 0 || end > tasks || begin > end) {
    fail_invalid("pixel_shuffle: task range [" + std::to_string(begin) + ", " +
                 std::to_string(end) + ") is outside [0, " + std::to_string(tasks) + ")");
  }
  if (begin == end || pixel_shuffle_numel(g) == 0) {
    return;
  }
  check_buffers(in, out, g, elem_size);
  run_tasks(in, out, g, elem_size, order, layout, begin, end);
}

void pixel_shuffle(const void* in, void* out, const PixelShuffleGeometry& g,
                   std::size_t elem_size, ChannelOrder order, Layout layout, int num_threads) {
  check_geometry(g);
  check_elem_size(elem_size);
  check_enums(order, layout);
  check_buffers(in, out, g, elem_size);
  const int64_t tasks = pixel_shuffle_num_tasks(g, layout);
  if (tasks == 0 || pixel_shuffle_numel(g) == 0) {
    return;
  }
  const int64_t bytes = pixel_shuffle_numel(g) * static_cast<int64_t>(elem_size);
  parallel_tasks(tasks, bytes, num_threads, [&](int64_t b, int64_t e) {
    run_tasks(in, out, g, elem_size, order, layout, b, e);
  });
}

void pixel_shuffle_naive(const void* in, void* out, const PixelShuffleGeometry& g,
                         std::size_t elem_size, ChannelOrder order, Layout layout) {
  check_geometry(g);
  check_elem_size(elem_size);
  check_enums(order, layout);
  check_buffers(in, out, g, elem_size);
  const int64_t numel = pixel_shuffle_numel(g);
  const auto* src = static_cast<const unsigned char*>(in);
  auto* dst = static_cast<unsigned char*>(out);
  for (int64_t k = 0; k < numel; ++k) {
    const int64_t from = ps_src_offset_of_dst<int64_t>(k, g.c_out, g.h, g.w, g.s, order, layout);
    std::memcpy(dst + k * elem_size, src + from * elem_size, elem_size);
  }
}

}  // namespace falsr::core
