// make_inverted_bottleneck_plan: argument checks, weight packing, the choice of path;
// the generic C++ path; and the naive reference. The kernels themselves are in
// inverted_bottleneck_kernels.h (AVX2 / AVX-512 copies: inverted_bottleneck_avx*.cpp).
#include "core/inverted_bottleneck.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core/inverted_bottleneck_kernels.h"
#include "core/inverted_bottleneck_layout.h"
#include "core/shapes.h"

namespace falsr::core {

namespace ib {

// One float per "register": the reference-shaped C++ path (any CPU).
struct VecScalar {
  using reg = float;
  static constexpr int L = 1;
  static constexpr int kMaxNr = 4;
  static constexpr int mr(int) { return 4; }
  static float load(const float* p) { return *p; }
  static void store(float* p, float v) { *p = v; }
  static float bcast(const float* p) { return *p; }
  static float fma(float a, float b, float c) { return a * b + c; }
  static float relu(float v) { return v < 0.0f ? 0.0f : v; }  // NaN stays NaN
};

void run_tasks_generic(const InvertedBottleneckArgs& a, const Packed& p, const Geometry& g,
                       float* workspace, int64_t begin, int64_t end) {
  run_tasks_with<VecScalar>(a, p, g, workspace, begin, end);
}

}  // namespace ib

namespace {

int64_t dtype_size(DType d) { return d == DType::BF16 ? 2 : 4; }

void check_plane(const void* data, DType dtype, int64_t channels, int64_t stride, int64_t f,
                 const char* name) {
  if (data == nullptr) fail_invalid(std::string(name) + " is a null pointer");
  if (dtype != DType::F32 && dtype != DType::BF16) {
    fail_invalid(std::string(name) + " dtype must be F32 or BF16");
  }
  if (channels != f) {
    fail_invalid(std::string(name) + " has " + std::to_string(channels) +
                 " channels, expected filters = " + std::to_string(f));
  }
  if (stride < channels) {
    fail_invalid(std::string(name) + " pixel_stride " + std::to_string(stride) +
                 " is smaller than its channels " + std::to_string(channels));
  }
}

struct Extent {
  const char* begin;
  int64_t stride_bytes, width_bytes, pixels, elem;
};

Extent extent_of(const void* data, DType dtype, int64_t channels, int64_t stride,
                 int64_t pixels) {
  const int64_t e = dtype_size(dtype);
  return {static_cast<const char*>(data), stride * e, channels * e, pixels, e};
}

// Whether two strided planes share a byte. Exact for two channel slices of one NHWC
// buffer (same pixel stride); otherwise by address range (conservative).
bool overlaps(const Extent& u, const Extent& v) {
  const char* u_end = u.begin + (u.pixels - 1) * u.stride_bytes + u.width_bytes;
  const char* v_end = v.begin + (v.pixels - 1) * v.stride_bytes + v.width_bytes;
  if (u_end <= v.begin || v_end <= u.begin) return false;
  if (u.stride_bytes != v.stride_bytes) return true;
  const int64_t s = u.stride_bytes;
  const int64_t d = (((v.begin - u.begin) % s) + s) % s;  // v's offset within u's pixel
  return !(d >= u.width_bytes && d + v.width_bytes <= s);
}

void validate(const InvertedBottleneckArgs& a) {
  check_positive(a.batch, "batch");
  check_positive(a.height, "height");
  check_positive(a.width, "width");
  check_positive(a.filters, "filters");
  check_positive(a.wide, "wide");
  if (a.kernel != 1 && a.kernel != 3) {
    fail_invalid("kernel must be 1 or 3, got " + std::to_string(a.kernel));
  }
  const int64_t pixels = checked_numel({a.batch, a.height, a.width}, "batch * height * width");
  checked_numel({pixels, a.wide, 4}, "inverted bottleneck activations");
  check_plane(a.x.data, a.x.dtype, a.x.channels, a.x.pixel_stride, a.filters, "x");
  check_plane(a.out.data, a.out.dtype, a.out.channels, a.out.pixel_stride, a.filters, "out");
  if (a.has_extra_residual) {
    check_plane(a.extra_residual.data, a.extra_residual.dtype, a.extra_residual.channels,
                a.extra_residual.pixel_stride, a.filters, "extra_residual");
  }
  if (a.expand_w == nullptr) fail_invalid("expand_w is a null pointer");
  if (a.dw_w == nullptr) fail_invalid("dw_w is a null pointer");
  if (a.project_w == nullptr) fail_invalid("project_w is a null pointer");
  const Extent out = extent_of(a.out.data, a.out.dtype, a.out.channels, a.out.pixel_stride, pixels);
  if (overlaps(out, extent_of(a.x.data, a.x.dtype, a.x.channels, a.x.pixel_stride, pixels))) {
    fail_invalid("out overlaps x (the block reads x around each output pixel)");
  }
  if (a.has_extra_residual &&
      overlaps(out, extent_of(a.extra_residual.data, a.extra_residual.dtype,
                              a.extra_residual.channels, a.extra_residual.pixel_stride, pixels))) {
    fail_invalid("out overlaps extra_residual");
  }
}

float read_plane(const Plane& p, int64_t pixel, int64_t c) {
  const int64_t i = pixel * p.pixel_stride + c;
  return p.dtype == DType::F32 ? static_cast<const float*>(p.data)[i]
                               : bf16_to_float(static_cast<const uint16_t*>(p.data)[i]);
}

// Default tile: square-ish (the halo recompute is (2 pad + 2) / side in each direction),
// small enough that the rings stay in L2, and >= 20 tasks on a 480 x 480 image.
constexpr int64_t kBandRows = 96;
constexpr int64_t kTileCols = 128;

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

class FusedPlan final : public InvertedBottleneckPlan {
 public:
  FusedPlan(const InvertedBottleneckArgs& a, const InvertedBottleneckTiling& tiling, Isa isa)
      : isa_(isa) {
    g_ = ib::make_geometry(a, tiling.band_rows > 0 ? tiling.band_rows : kBandRows,
                           tiling.tile_cols > 0 ? tiling.tile_cols : kTileCols);
    const int64_t f = g_.f, wide = g_.wide, k = g_.k, fp = g_.f_pad, wp = g_.wide_pad;
    expand_.assign(k * k * f * wp, 0.0f);
    project_.assign(k * k * wide * fp, 0.0f);
    dw_.assign(9 * wp, 0.0f);
    expand_b_.assign(wp, 0.0f);
    dw_b_.assign(wp, 0.0f);
    project_b_.assign(fp, 0.0f);
    for (int64_t o = 0; o < wide; ++o)
      for (int64_t c = 0; c < f; ++c)
        for (int64_t t = 0; t < k * k; ++t) {
          expand_[(t * f + c) * wp + o] = a.expand_w[(o * f + c) * k * k + t];
          project_[(t * wide + o) * fp + c] = a.project_w[(c * wide + o) * k * k + t];
        }
    for (int64_t o = 0; o < wide; ++o) {
      for (int64_t t = 0; t < 9; ++t) dw_[t * wp + o] = a.dw_w[o * 9 + t];
      if (a.expand_b != nullptr) expand_b_[o] = a.expand_b[o];
      if (a.dw_b != nullptr) dw_b_[o] = a.dw_b[o];
    }
    if (a.project_b != nullptr) std::copy(a.project_b, a.project_b + f, project_b_.begin());
    packed_ = {expand_.data(), expand_b_.data(), dw_.data(),
               dw_b_.data(),   project_.data(),  project_b_.data()};
    tasks_ = a.batch * g_.bands * g_.tiles;
  }

  int64_t num_tasks() const override { return tasks_; }

  void run_tasks(const InvertedBottleneckArgs& a, int64_t begin, int64_t end) const override {
    begin = std::max<int64_t>(begin, 0);
    end = std::min(end, tasks_);
    if (begin >= end) return;
    const size_t bytes = static_cast<size_t>(ib::round_up(g_.workspace * 4, 64));
    std::unique_ptr<float, AlignedFree> ws(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!ws) throw std::bad_alloc();
    switch (isa_) {
#if defined(__x86_64__)
      case Isa::Amx:
      case Isa::Avx512Bf16:
      case Isa::Avx512: ib::run_tasks_avx512(a, packed_, g_, ws.get(), begin, end); break;
      case Isa::Avx2: ib::run_tasks_avx2(a, packed_, g_, ws.get(), begin, end); break;
#endif
      default: ib::run_tasks_generic(a, packed_, g_, ws.get(), begin, end); break;
    }
  }

  std::string path() const override {
    return std::string(isa_name(static_cast<int>(isa_) > static_cast<int>(Isa::Avx512) ? Isa::Avx512 : isa_)) + "/fused";
  }

 private:
  Isa isa_;
  ib::Geometry g_;
  std::vector<float> expand_, project_, dw_, expand_b_, dw_b_, project_b_;
  ib::Packed packed_{};
  int64_t tasks_ = 0;
};

}  // namespace

std::unique_ptr<InvertedBottleneckPlan> make_inverted_bottleneck_plan(
    const InvertedBottleneckArgs& a, const InvertedBottleneckTiling& tiling) {
  validate(a);
  check_non_negative(tiling.band_rows, "tiling.band_rows");
  check_non_negative(tiling.tile_cols, "tiling.tile_cols");
  Isa isa = max_isa();
#if !defined(__x86_64__)
  isa = Isa::Generic;
#endif
  return std::make_unique<FusedPlan>(a, tiling, isa);
}

void inverted_bottleneck_naive(const InvertedBottleneckArgs& a) {
  validate(a);
  const int64_t N = a.batch, H = a.height, W = a.width, f = a.filters, wide = a.wide;
  const int64_t k = a.kernel, pad = k / 2;
  auto bias = [](const float* b, int64_t i) { return b != nullptr ? double(b[i]) : 0.0; };
  auto inside = [&](int64_t y, int64_t x) { return y >= 0 && y < H && x >= 0 && x < W; };
  std::vector<double> h1(N * H * W * wide), h2(N * H * W * wide);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        for (int64_t o = 0; o < wide; ++o) {
          double s = bias(a.expand_b, o);
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t yy = y + ky - pad, xx = x + kx - pad;
              if (!inside(yy, xx)) continue;
              for (int64_t c = 0; c < f; ++c) {
                s += double(a.expand_w[((o * f + c) * k + ky) * k + kx]) *
                     read_plane(a.x, (n * H + yy) * W + xx, c);
              }
            }
          h1[((n * H + y) * W + x) * wide + o] = std::max(s, 0.0);
        }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        for (int64_t o = 0; o < wide; ++o) {
          double s = bias(a.dw_b, o);
          for (int64_t ky = 0; ky < 3; ++ky)
            for (int64_t kx = 0; kx < 3; ++kx) {
              const int64_t yy = y + ky - 1, xx = x + kx - 1;
              if (!inside(yy, xx)) continue;
              s += double(a.dw_w[o * 9 + ky * 3 + kx]) * h1[((n * H + yy) * W + xx) * wide + o];
            }
          h2[((n * H + y) * W + x) * wide + o] = std::max(s, 0.0);
        }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        const int64_t pixel = (n * H + y) * W + x;
        for (int64_t c = 0; c < f; ++c) {
          double s = bias(a.project_b, c) + read_plane(a.x, pixel, c);
          if (a.has_extra_residual) s += read_plane(a.extra_residual, pixel, c);
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t yy = y + ky - pad, xx = x + kx - pad;
              if (!inside(yy, xx)) continue;
              const double* h = &h2[((n * H + yy) * W + xx) * wide];
              for (int64_t o = 0; o < wide; ++o) {
                s += double(a.project_w[((c * wide + o) * k + ky) * k + kx]) * h[o];
              }
            }
          const int64_t i = pixel * a.out.pixel_stride + c;
          if (a.out.dtype == DType::F32) {
            static_cast<float*>(a.out.data)[i] = static_cast<float>(s);
          } else {
            static_cast<uint16_t*>(a.out.data)[i] = float_to_bf16(static_cast<float>(s));
          }
        }
      }
}

}  // namespace falsr::core
