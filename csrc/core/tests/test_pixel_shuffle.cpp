// C++ tests of csrc/core/pixel_shuffle (no torch): the shared index arithmetic
// (also used by the CUDA kernel) against the textbook formulas, the fast kernels
// against a naive loop for both channel orders, both layouts, element sizes
// 1/2/4/8, scales 1..5 and odd sizes, task-range splitting, and the error cases.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/isa.h"
#include "core/pixel_shuffle.h"
#include "core/pixel_shuffle_index.h"
#include "core/shapes.h"
#include "core/tests/check.h"

namespace {


using falsr::core::ChannelOrder;
using falsr::core::Layout;
using falsr::core::PixelShuffleGeometry;

// Textbook definitions, written independently of pixel_shuffle_index.h.
// Returns the input element offset of output (n, c, y, x).
int64_t textbook_src(const PixelShuffleGeometry& g, int64_t n, int64_t c, int64_t y, int64_t x,
                     ChannelOrder order, Layout layout) {
  const int64_t s = g.s;
  const int64_t h = y / s, i = y % s, w = x / s, j = x % s;
  int64_t cin;
  if (order == ChannelOrder::Torch) {
    cin = c * s * s + s * i + j;  // torch.nn.PixelShuffle
  } else {
    cin = (s * i + j) * g.c_out + c;  // tf.nn.depth_to_space
  }
  if (layout == Layout::NCHW) {
    return ((n * g.c_in + cin) * g.h + h) * g.w + w;
  }
  return ((n * g.h + h) * g.w + w) * g.c_in + cin;
}

int64_t textbook_dst(const PixelShuffleGeometry& g, int64_t n, int64_t c, int64_t y, int64_t x,
                     Layout layout) {
  const int64_t Ho = g.h * g.s, Wo = g.w * g.s;
  if (layout == Layout::NCHW) {
    return ((n * g.c_out + c) * Ho + y) * Wo + x;
  }
  return ((n * Ho + y) * Wo + x) * g.c_out + c;
}

const ChannelOrder kOrders[] = {ChannelOrder::Torch, ChannelOrder::TF};
const Layout kLayouts[] = {Layout::NCHW, Layout::NHWC};

void test_index_math() {
  const PixelShuffleGeometry g = falsr::core::make_pixel_shuffle_geometry(2, 3 * 9, 4, 5, 3);
  CHECK(g.c_out == 3);
  for (ChannelOrder order : kOrders) {
    for (Layout layout : kLayouts) {
      std::vector<int> seen(static_cast<std::size_t>(falsr::core::pixel_shuffle_numel(g)), 0);
      for (int64_t n = 0; n < g.n; ++n)
        for (int64_t c = 0; c < g.c_out; ++c)
          for (int64_t y = 0; y < g.h * g.s; ++y)
            for (int64_t x = 0; x < g.w * g.s; ++x) {
              const int64_t src = falsr::core::ps_src_offset<int64_t>(n, c, y, x, g.c_out, g.h,
                                                                      g.w, g.s, order, layout);
              CHECK(src == textbook_src(g, n, c, y, x, order, layout));
              const int64_t dst = textbook_dst(g, n, c, y, x, layout);
              // The CUDA kernel's per-thread path: output offset -> input offset (int32 too).
              CHECK(falsr::core::ps_src_offset_of_dst<int64_t>(dst, g.c_out, g.h, g.w, g.s, order,
                                                               layout) == src);
              CHECK(falsr::core::ps_src_offset_of_dst<int32_t>(
                        static_cast<int32_t>(dst), static_cast<int32_t>(g.c_out),
                        static_cast<int32_t>(g.h), static_cast<int32_t>(g.w),
                        static_cast<int32_t>(g.s), order, layout) == src);
              int64_t nn, cc, yy, xx;
              falsr::core::ps_dst_coords<int64_t>(dst, g.c_out, g.h * g.s, g.w * g.s, layout,
                                                  &nn, &cc, &yy, &xx);
              CHECK(nn == n && cc == c && yy == y && xx == x);
              seen[static_cast<std::size_t>(src)] += 1;
            }
      // A permutation: every input element is used exactly once.
      bool perm = true;
      for (int v : seen) perm = perm && v == 1;
      CHECK(perm);
    }
  }
  // The FALSR case written out: x2, 32 -> 8 channels, TF order:
  // out[2h+i, 2w+j, c] = in[h, w, (2i+j)*8 + c].
  CHECK(falsr::core::ps_in_channel<int>(5, 1, 0, 2, 8, ChannelOrder::TF) == 2 * 8 + 5);
  CHECK(falsr::core::ps_in_channel<int>(5, 1, 0, 2, 8, ChannelOrder::Torch) == 4 * 5 + 2);
}

template <typename T>
std::vector<T> random_values(std::size_t count, std::mt19937_64& rng) {
  std::vector<T> v(count);
  for (auto& e : v) {
    // Never zero, so a missed write cannot pass as a correct zero.
    e = static_cast<T>(rng() | 1u);
  }
  return v;
}

template <typename T>
void compare_with_naive(int64_t n, int64_t c_out, int64_t h, int64_t w, int64_t s,
                        std::mt19937_64& rng) {
  const PixelShuffleGeometry g =
      falsr::core::make_pixel_shuffle_geometry(n, c_out * s * s, h, w, s);
  const std::size_t numel = static_cast<std::size_t>(falsr::core::pixel_shuffle_numel(g));
  const std::vector<T> in = random_values<T>(numel, rng);
  for (ChannelOrder order : kOrders) {
    for (Layout layout : kLayouts) {
      std::vector<T> expect(numel, 0), got(numel, 0), split(numel, 0), naive_idx(numel, 0);
      falsr::core::pixel_shuffle_naive(in.data(), expect.data(), g, sizeof(T), order, layout);
      // Naive loop from the textbook formulas (independent of ps_* helpers).
      for (int64_t nn = 0; nn < n; ++nn)
        for (int64_t c = 0; c < c_out; ++c)
          for (int64_t y = 0; y < h * s; ++y)
            for (int64_t x = 0; x < w * s; ++x)
              naive_idx[textbook_dst(g, nn, c, y, x, layout)] =
                  in[textbook_src(g, nn, c, y, x, order, layout)];
      CHECK(expect == naive_idx);
      falsr::core::pixel_shuffle(in.data(), got.data(), g, sizeof(T), order, layout);
      const bool same = got == expect;
      CHECK(same);
      if (!same) {
        std::fprintf(stderr, "  mismatch: elem %zu n%lld c%lld h%lld w%lld s%lld order %d layout %d\n",
                     sizeof(T), (long long)n, (long long)c_out, (long long)h, (long long)w,
                     (long long)s, (int)order, (int)layout);
      }
      // Uneven task ranges on the calling thread give the same result.
      const int64_t tasks = falsr::core::pixel_shuffle_num_tasks(g, layout);
      int64_t b = 0;
      int64_t step = 1;
      while (b < tasks) {
        const int64_t e = std::min(tasks, b + step);
        falsr::core::pixel_shuffle_tasks(in.data(), split.data(), g, sizeof(T), order, layout, b,
                                         e);
        b = e;
        step = step * 2 + 1;
      }
      CHECK(split == expect);
      // Single-threaded run too.
      std::vector<T> one(numel, 0);
      falsr::core::pixel_shuffle(in.data(), one.data(), g, sizeof(T), order, layout, 1);
      CHECK(one == expect);
    }
  }
}

void test_kernels() {
  std::mt19937_64 rng(1234);
  const int64_t shapes[][4] = {
      // n, c_out, h, w
      {1, 1, 1, 1}, {1, 3, 5, 7}, {2, 8, 7, 9}, {1, 5, 1, 33}, {3, 2, 13, 1}, {1, 7, 11, 17},
      {1, 4, 3, 64}, {2, 1, 9, 31},
  };
  for (const auto& sh : shapes) {
    for (int64_t s = 1; s <= 5; ++s) {
      compare_with_naive<uint32_t>(sh[0], sh[1], sh[2], sh[3], s, rng);
      compare_with_naive<uint16_t>(sh[0], sh[1], sh[2], sh[3], s, rng);
    }
    compare_with_naive<uint8_t>(sh[0], sh[1], sh[2], sh[3], 2, rng);
    compare_with_naive<uint64_t>(sh[0], sh[1], sh[2], sh[3], 3, rng);
  }
  // Large enough to take the OpenMP path (> 64 KiB) with many tasks.
  compare_with_naive<uint32_t>(1, 8, 61, 67, 2, rng);
  compare_with_naive<uint16_t>(2, 3, 45, 50, 4, rng);
  // Empty shapes are a no-op, null pointers allowed for them.
  for (Layout layout : kLayouts) {
    const PixelShuffleGeometry e = falsr::core::make_pixel_shuffle_geometry(0, 8, 4, 4, 2);
    falsr::core::pixel_shuffle(nullptr, nullptr, e, 4, ChannelOrder::TF, layout);
    const PixelShuffleGeometry z = falsr::core::make_pixel_shuffle_geometry(1, 8, 0, 4, 2);
    falsr::core::pixel_shuffle(nullptr, nullptr, z, 2, ChannelOrder::Torch, layout);
  }
}

void test_errors() {
  using falsr::core::make_pixel_shuffle_geometry;
  CHECK_THROWS(make_pixel_shuffle_geometry(1, 8, 4, 4, 0), "scale must be >= 1");
  CHECK_THROWS(make_pixel_shuffle_geometry(1, 8, 4, 4, -2), "scale must be >= 1");
  CHECK_THROWS(make_pixel_shuffle_geometry(1, 6, 4, 4, 2), "divisible by scale*scale");
  CHECK_THROWS(make_pixel_shuffle_geometry(1, 27, 4, 4, 2), "(27)");
  CHECK_THROWS(make_pixel_shuffle_geometry(-1, 8, 4, 4, 2), "batch size N must be >= 0");
  CHECK_THROWS(make_pixel_shuffle_geometry(1, 8, -4, 4, 2), "height H must be >= 0");
  CHECK_THROWS(make_pixel_shuffle_geometry(1, 8, 4, -1, 2), "width W must be >= 0");
  CHECK_THROWS(make_pixel_shuffle_geometry(1, 4, int64_t{1} << 62, 4, 2), "overflows");
  CHECK_THROWS(make_pixel_shuffle_geometry(1 << 20, 1 << 20, 1 << 20, 1 << 20, 1), "overflows");
  CHECK_THROWS(make_pixel_shuffle_geometry(1, 4, 4, 4, int64_t{1} << 40), "overflows");

  const PixelShuffleGeometry g = make_pixel_shuffle_geometry(1, 8, 3, 3, 2);
  std::vector<float> a(72, 1.0f), b(72, 0.0f);
  CHECK_THROWS(falsr::core::pixel_shuffle(nullptr, b.data(), g, 4, ChannelOrder::TF,
                                          Layout::NCHW),
               "input is a null pointer");
  CHECK_THROWS(falsr::core::pixel_shuffle(a.data(), nullptr, g, 4, ChannelOrder::TF,
                                          Layout::NCHW),
               "output is a null pointer");
  CHECK_THROWS(falsr::core::pixel_shuffle(a.data(), b.data(), g, 3, ChannelOrder::TF,
                                          Layout::NCHW),
               "element size must be 1, 2, 4 or 8");
  CHECK_THROWS(falsr::core::pixel_shuffle(a.data(), a.data() + 10, g, 4, ChannelOrder::TF,
                                          Layout::NCHW),
               "overlap");
  CHECK_THROWS(falsr::core::pixel_shuffle(a.data(), b.data(), g, 4, static_cast<ChannelOrder>(7),
                                          Layout::NCHW),
               "unknown channel order");
  CHECK_THROWS(falsr::core::pixel_shuffle(a.data(), b.data(), g, 4, ChannelOrder::TF,
                                          static_cast<Layout>(3)),
               "unknown layout");
  PixelShuffleGeometry bad = g;
  bad.c_out = 3;
  CHECK_THROWS(falsr::core::pixel_shuffle(a.data(), b.data(), bad, 4, ChannelOrder::TF,
                                          Layout::NCHW),
               "inconsistent geometry");
  CHECK_THROWS(falsr::core::pixel_shuffle_tasks(a.data(), b.data(), g, 4, ChannelOrder::TF,
                                                Layout::NCHW, 0, 100),
               "task range");
  CHECK_THROWS(falsr::core::pixel_shuffle_tasks(a.data(), b.data(), g, 4, ChannelOrder::TF,
                                                Layout::NHWC, 2, 1),
               "task range");
  // shapes.h helpers.
  CHECK(falsr::core::checked_mul(int64_t{1} << 31, int64_t{1} << 31, "x") == int64_t{1} << 62);
  CHECK_THROWS(falsr::core::checked_mul(int64_t{1} << 32, int64_t{1} << 31, "the product"),
               "the product overflows int64");
  CHECK_THROWS(falsr::core::check_positive(0, "scale"), "scale must be >= 1, got 0");
}

// The NCHW x2 kernel for 4-byte elements at every ISA level (AVX-512: permutes, and
// streaming stores for outputs of 8 MiB and more): widths around the 16-element vector,
// misaligned rows, task-range splitting, against the textbook formula.
void test_nchw_x2_levels() {
  std::mt19937 rng(99);
  struct Shape {
    int64_t n, c_in, h, w;
  };
  const Shape shapes[] = {{1, 4, 3, 1}, {1, 8, 5, 15}, {2, 4, 3, 16}, {1, 12, 7, 17},
                          {1, 4, 2, 33}, {1, 32, 131, 503}, {1, 8, 97, 1023}};
  for (const char* level : {"generic", "avx2", "avx512"}) {
    setenv("FALSR_CPU_ISA", level, 1);
    for (const Shape& sh : shapes) {
      const PixelShuffleGeometry g = falsr::core::make_pixel_shuffle_geometry(sh.n, sh.c_in, sh.h, sh.w, 2);
      const int64_t numel = falsr::core::pixel_shuffle_numel(g);
      std::vector<uint32_t> in(static_cast<size_t>(numel + 1)), out(static_cast<size_t>(numel + 1), 0xdeadbeefu);
      for (uint32_t& v : in) v = static_cast<uint32_t>(rng());
      // Offset by one element: rows not 64-byte aligned (the streaming kernel's fallback).
      for (int64_t shift : {int64_t{0}, int64_t{1}}) {
        std::fill(out.begin(), out.end(), 0xdeadbeefu);
        const int64_t tasks = falsr::core::pixel_shuffle_num_tasks(g, Layout::NCHW);
        falsr::core::pixel_shuffle_tasks(in.data(), out.data() + shift, g, 4, ChannelOrder::Torch,
                                         Layout::NCHW, 0, tasks / 3);
        falsr::core::pixel_shuffle_tasks(in.data(), out.data() + shift, g, 4, ChannelOrder::Torch,
                                         Layout::NCHW, tasks / 3, tasks);
        bool ok = true;
        for (int64_t c = 0; c < g.c_out && ok; ++c) {
          for (int64_t n = 0; n < g.n && ok; ++n) {
            for (int64_t y = 0; y < g.h * 2 && ok; ++y) {
              for (int64_t x = 0; x < g.w * 2; ++x) {
                const int64_t src = textbook_src(g, n, c, y, x, ChannelOrder::Torch, Layout::NCHW);
                const int64_t dst = textbook_dst(g, n, c, y, x, Layout::NCHW);
                if (out[static_cast<size_t>(dst + shift)] != in[static_cast<size_t>(src)]) {
                  ok = false;
                  break;
                }
              }
            }
          }
        }
        const uint32_t outside = shift == 0 ? out[static_cast<size_t>(numel)] : out[0];
        CHECK(ok && outside == 0xdeadbeefu);
        if (!ok) {
          std::fprintf(stderr, "[%s] nchw x2 %lldx%lldx%lldx%lld shift %lld wrong\n", level,
                       static_cast<long long>(sh.n), static_cast<long long>(sh.c_in),
                       static_cast<long long>(sh.h), static_cast<long long>(sh.w),
                       static_cast<long long>(shift));
        }
      }
    }
  }
  unsetenv("FALSR_CPU_ISA");
}

}  // namespace

int main() {
  test_nchw_x2_levels();
  test_index_math();
  test_kernels();
  test_errors();
  return falsr::test::report("test_pixel_shuffle");
}
