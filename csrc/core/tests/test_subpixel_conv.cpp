// C++ tests of csrc/core/subpixel_conv (no torch): the fused kernel against an
// independent textbook loop (shuffle written out, conv2d with zero padding) and against
// subpixel_conv_naive, for both channel orders, both layouts, scales 1..4, kernel 1/3,
// Cout 1..5, with/without residual and bias, fp32 and bf16, odd sizes, task-range
// splitting, and the error cases.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/subpixel_conv.h"
#include "core/subpixel_conv_index.h"
#include "core/tests/check.h"

namespace {


using falsr::core::ChannelOrder;
using falsr::core::Layout;
using falsr::core::SubpixelConvArgs;
using falsr::core::SubpixelConvGeometry;
using falsr::core::SubpixelDType;

// Textbook: materialise hr = depth_to_space(x + r) in NCHW (double), then conv2d.
// x, r given as logical NCHW float arrays; result logical NCHW double.
std::vector<double> textbook(const std::vector<float>& x, const std::vector<float>* r,
                             const std::vector<float>& w, const std::vector<float>* b,
                             const SubpixelConvGeometry& g, ChannelOrder order) {
  const int64_t s = g.s, C = g.c_hr, Ho = g.h * s, Wo = g.w * s, K = g.k, P = K / 2;
  std::vector<double> hr(static_cast<size_t>(g.n * C * Ho * Wo));
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < Ho; ++y)
        for (int64_t xx = 0; xx < Wo; ++xx) {
          const int64_t i = y % s, j = xx % s;
          const int64_t cin = order == ChannelOrder::Torch ? c * s * s + s * i + j
                                                           : (s * i + j) * C + c;
          const int64_t off = ((n * g.c_in + cin) * g.h + y / s) * g.w + xx / s;
          float v = x[off];
          if (r) v += (*r)[off];
          hr[((n * C + c) * Ho + y) * Wo + xx] = v;
        }
  std::vector<double> out(static_cast<size_t>(g.n * g.c_out * Ho * Wo));
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t co = 0; co < g.c_out; ++co)
      for (int64_t y = 0; y < Ho; ++y)
        for (int64_t xx = 0; xx < Wo; ++xx) {
          double acc = b ? (*b)[co] : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t ky = 0; ky < K; ++ky)
              for (int64_t kx = 0; kx < K; ++kx) {
                const int64_t yy = y + ky - P, xs = xx + kx - P;
                if (yy < 0 || yy >= Ho || xs < 0 || xs >= Wo) continue;
                acc += static_cast<double>(w[((co * C + c) * K + ky) * K + kx]) *
                       hr[((n * C + c) * Ho + yy) * Wo + xs];
              }
          out[((n * g.c_out + co) * Ho + y) * Wo + xx] = acc;
        }
  return out;
}

// Logical NCHW [N, C, H, W] -> storage in `layout`.
template <typename T>
std::vector<T> to_layout(const std::vector<T>& v, int64_t N, int64_t C, int64_t H, int64_t W,
                         Layout layout) {
  if (layout == Layout::NCHW) return v;
  std::vector<T> o(v.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w)
          o[((n * H + h) * W + w) * C + c] = v[((n * C + c) * H + h) * W + w];
  return o;
}

std::vector<float> random_vec(size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& e : v) e = d(rng);
  return v;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = falsr::core::spc_float_to_bf16(v[i]);
  return o;
}
std::vector<float> from_bf16(const std::vector<uint16_t>& v) {
  std::vector<float> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = falsr::core::spc_bf16_to_float(v[i]);
  return o;
}

// Compares `got` (storage in layout) with logical-NCHW `want`: |d| <= atol + rtol*|want|.
bool close(const std::vector<float>& got, const std::vector<double>& want,
           const SubpixelConvGeometry& g, Layout layout, double rtol, double atol,
           const char* what) {
  const int64_t Ho = g.h * g.s, Wo = g.w * g.s;
  std::vector<double> logical_idx;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t co = 0; co < g.c_out; ++co)
      for (int64_t y = 0; y < Ho; ++y)
        for (int64_t x = 0; x < Wo; ++x) {
          const double wv = want[((n * g.c_out + co) * Ho + y) * Wo + x];
          const int64_t o = falsr::core::spc_out_offset<int64_t>(n, co, y, x, g, layout);
          const double gv = got[o];
          if (!(std::fabs(gv - wv) <= atol + rtol * std::fabs(wv))) {
            std::fprintf(stderr, "%s mismatch at n=%ld co=%ld y=%ld x=%ld: got %.8g want %.8g\n",
                         what, (long)n, (long)co, (long)y, (long)x, gv, wv);
            return false;
          }
        }
  return true;
}

void run_case(int64_t n, int64_t c, int64_t h, int64_t w, int64_t s, int64_t co, int64_t k,
              bool residual, bool bias, ChannelOrder order, Layout layout, bool bf16,
              std::mt19937& rng) {
  const SubpixelConvGeometry g =
      falsr::core::make_subpixel_conv_geometry(n, c * s * s, h, w, s, co, c, k);
  const size_t in_n = static_cast<size_t>(n * c * s * s * h * w);
  const size_t out_n = static_cast<size_t>(n * co * h * s * w * s);
  auto x = random_vec(in_n, rng, 0.5f, 1.5f);
  auto r = random_vec(in_n, rng, -1.0f, 1.0f);
  auto wt = random_vec(static_cast<size_t>(co * c * k * k), rng, -0.5f, 0.5f);
  auto bv = random_vec(static_cast<size_t>(co), rng, 0.5f, 1.5f);
  if (bf16) {  // round the inputs so the reference sees what the kernel sees
    x = from_bf16(to_bf16(x));
    r = from_bf16(to_bf16(r));
  }
  const auto want = textbook(x, residual ? &r : nullptr, wt, bias ? &bv : nullptr, g, order);
  double mag = 0;
  for (double v : want) mag = std::max(mag, std::fabs(v));
  const auto xs = to_layout(x, n, c * s * s, h, w, layout);
  const auto rs = to_layout(r, n, c * s * s, h, w, layout);

  SubpixelConvArgs a;
  a.weight = wt.data();
  a.bias = bias ? bv.data() : nullptr;
  a.dtype = bf16 ? SubpixelDType::BFloat16 : SubpixelDType::Float32;
  a.order = order;
  a.layout = layout;
  char what[200];
  std::snprintf(what, sizeof(what), "n%ld c%ld h%ld w%ld s%ld co%ld k%ld res%d bias%d %s %s %s",
                (long)n, (long)c, (long)h, (long)w, (long)s, (long)co, (long)k, residual, bias,
                order == ChannelOrder::TF ? "tf" : "torch",
                layout == Layout::NCHW ? "nchw" : "nhwc", bf16 ? "bf16" : "fp32");
  const double rtol = bf16 ? 1e-2 : 1e-5;
  const double atol = (bf16 ? 1e-2 : 1e-5) * std::max(1.0, mag);

  for (int variant = 0; variant < 3; ++variant) {
    std::vector<float> got(out_n, std::nanf(""));
    std::vector<uint16_t> got16(out_n, 0x7fc0);
    const auto xb = to_bf16(xs);
    const auto rb = to_bf16(rs);
    if (bf16) {
      a.x = xb.data();
      a.residual = residual ? rb.data() : nullptr;
      a.out = got16.data();
    } else {
      a.x = xs.data();
      a.residual = residual ? rs.data() : nullptr;
      a.out = got.data();
    }
    if (variant == 0) {
      falsr::core::subpixel_conv(a, g, 2);
    } else if (variant == 1) {
      // Task ranges one at a time, in reverse: tasks must be independent.
      const int64_t tasks = falsr::core::subpixel_conv_num_tasks(g);
      for (int64_t t = tasks; t-- > 0;) falsr::core::subpixel_conv_tasks(a, g, t, t + 1);
    } else {
      falsr::core::subpixel_conv_naive(a, g);
    }
    if (bf16) got = from_bf16(got16);
    CHECK(close(got, want, g, layout, rtol, atol, what));
  }
}

void test_bf16_conversions() {
  using falsr::core::spc_bf16_to_float;
  using falsr::core::spc_float_to_bf16;
  CHECK(spc_float_to_bf16(1.0f) == 0x3f80);
  CHECK(spc_bf16_to_float(0x3f80) == 1.0f);
  CHECK(spc_float_to_bf16(-2.0f) == 0xc000);
  // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even (1.0).
  CHECK(spc_float_to_bf16(1.00390625f) == 0x3f80);
  // 1 + 3*2^-8 is halfway between 1.0078125 (odd) and 1.015625 (even).
  CHECK(spc_float_to_bf16(1.01171875f) == 0x3f82);
  CHECK(std::isnan(spc_bf16_to_float(spc_float_to_bf16(std::nanf("")))));
  CHECK(spc_float_to_bf16(INFINITY) == 0x7f80);
}

void test_kernels() {
  std::mt19937 rng(1234);
  const ChannelOrder orders[] = {ChannelOrder::Torch, ChannelOrder::TF};
  const Layout layouts[] = {Layout::NCHW, Layout::NHWC};
  struct Shape {
    int64_t n, c, h, w;
  };
  const Shape shapes[] = {{1, 1, 1, 1}, {2, 3, 5, 7}, {1, 8, 6, 19}, {1, 2, 21, 3}};
  for (ChannelOrder order : orders)
    for (Layout layout : layouts)
      for (int64_t s : {1, 2, 3, 4})
        for (const Shape& sh : shapes)
          for (int64_t k : {1, 3}) {
            const int64_t co = 1 + (sh.w + s + k) % 5;  // 1..5 (exercises every group)
            const bool residual = (sh.h + s) % 2 == 0;
            const bool bias = (sh.w + k) % 3 != 0;
            for (bool bf16 : {false, true})
              run_case(sh.n, sh.c, sh.h, sh.w, s, co, k, residual, bias, order, layout, bf16,
                       rng);
          }
  // Every residual/bias combination on the FALSR shape (x2, 8 HR channels, luma / RGB),
  // wide enough for full 32-column tiles plus a tail; more rows than one task.
  for (ChannelOrder order : orders)
    for (Layout layout : layouts)
      for (int64_t co : {1, 3})
        for (bool residual : {false, true})
          for (bool bias : {false, true})
            run_case(1, 8, 37, 41, 2, co, 3, residual, bias, order, layout, false, rng);
  // bf16 on the FALSR shape (the AVX-512 NHWC x2 / 8-channel path widens bf16 itself).
  for (ChannelOrder order : orders)
    for (Layout layout : layouts)
      for (bool residual : {false, true})
        run_case(2, 8, 20, 33, 2, 3, 3, residual, true, order, layout, true, rng);
  run_case(1, 4, 5, 6, 2, 2, 5, true, true, ChannelOrder::Torch, Layout::NCHW, false, rng);
}

void test_errors() {
  using falsr::core::make_subpixel_conv_geometry;
  CHECK_THROWS(make_subpixel_conv_geometry(1, 32, 4, 4, 0, 1, 8, 3), "scale must be >= 1");
  CHECK_THROWS(make_subpixel_conv_geometry(1, 30, 4, 4, 2, 1, 8, 3),
               "must be divisible by scale*scale (2*2 = 4)");
  CHECK_THROWS(make_subpixel_conv_geometry(1, 32, 4, 4, 2, 1, 4, 3),
               "weight in-channels (4) must equal input channels / scale^2 (32 / 4 = 8)");
  CHECK_THROWS(make_subpixel_conv_geometry(1, 32, 4, 4, 2, 1, 8, 2), "kernel size must be odd");
  CHECK_THROWS(make_subpixel_conv_geometry(1, 32, 4, 4, 2, 0, 8, 3), "output channels");
  CHECK_THROWS(make_subpixel_conv_geometry(-1, 32, 4, 4, 2, 1, 8, 3), "batch size N");
  CHECK_THROWS(make_subpixel_conv_geometry(1, 32, int64_t{1} << 40, int64_t{1} << 40, 2, 1, 8, 3),
               "overflows int64");

  const SubpixelConvGeometry g = make_subpixel_conv_geometry(1, 8, 3, 3, 2, 1, 2, 3);
  std::vector<float> x(72, 1.0f), w(18, 1.0f), out(36);
  SubpixelConvArgs a;
  a.x = x.data();
  a.weight = w.data();
  a.out = out.data();
  falsr::core::subpixel_conv(a, g);
  CHECK(out[0] == 8.0f);   // corner: 2 channels x 2x2 taps inside
  CHECK(out[7] == 18.0f);  // interior (1, 1): 2 channels x 9 taps
  SubpixelConvArgs bad = a;
  bad.x = nullptr;
  CHECK_THROWS(falsr::core::subpixel_conv(bad, g), "input x is a null pointer");
  bad = a;
  bad.weight = nullptr;
  CHECK_THROWS(falsr::core::subpixel_conv(bad, g), "weight is a null pointer");
  bad = a;
  bad.out = x.data() + 4;
  CHECK_THROWS(falsr::core::subpixel_conv(bad, g), "overlap");
  bad = a;
  bad.residual = out.data();
  CHECK_THROWS(falsr::core::subpixel_conv(bad, g), "residual and output buffers overlap");
  bad = a;
  bad.dtype = static_cast<SubpixelDType>(7);
  CHECK_THROWS(falsr::core::subpixel_conv(bad, g), "unknown dtype");
  bad = a;
  bad.order = static_cast<ChannelOrder>(9);
  CHECK_THROWS(falsr::core::subpixel_conv(bad, g), "unknown channel order");
  bad = a;
  bad.layout = static_cast<Layout>(9);
  CHECK_THROWS(falsr::core::subpixel_conv_naive(bad, g), "unknown layout");
  CHECK_THROWS(falsr::core::subpixel_conv_tasks(a, g, 0, 99), "task range");
  SubpixelConvGeometry hand = g;
  hand.c_hr = 3;
  CHECK_THROWS(falsr::core::subpixel_conv(a, hand), "weight in-channels");
  // Empty shapes are fine with null pointers.
  const SubpixelConvGeometry e = make_subpixel_conv_geometry(0, 8, 3, 3, 2, 1, 2, 3);
  SubpixelConvArgs none;
  none.weight = w.data();
  falsr::core::subpixel_conv(none, e);
  CHECK(falsr::core::subpixel_conv_num_tasks(e) == 0);
}

}  // namespace

int main() {
  std::printf("test_subpixel_conv: kernel ISA %s\n", falsr::core::subpixel_conv_isa());
  test_bf16_conversions();
  // Every code path this CPU can run (the run-time choice covers only the best one).
  for (const char* name : {"generic", "avx2", "avx512"}) {
    if (!falsr::core::subpixel_conv_force_isa(name)) {
      std::printf("test_subpixel_conv: %s not supported here, skipped\n", name);
      continue;
    }
    CHECK(std::string(falsr::core::subpixel_conv_isa()) == name);
    std::printf("test_subpixel_conv: testing the %s path\n", name);
    test_kernels();
  }
  CHECK(!falsr::core::subpixel_conv_force_isa("sse9"));
  CHECK(falsr::core::subpixel_conv_force_isa("best"));
  test_errors();
  return falsr::test::report("test_subpixel_conv");
}
