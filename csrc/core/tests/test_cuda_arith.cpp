// C++ tests of the arithmetic the CUDA kernels share with plain C++ (csrc/cuda/*.h, no
// GPU needed): element conversions against the CPU helpers (core/activation.h,
// core/subpixel_conv_index.h) and the compiler's _Float16, and the per-thread functions
// of the CUDA kernels run in loops on the CPU:
//   * cell_conv_point (both weight accessors: global PyTorch layout and the shared-memory
//     packing) vs a double reference: groups, depthwise, k 1/3, several input planes as
//     channel slices, fp32/bf16/fp16 mixed, bias, ReLU, 0-2 residuals;
//   * subpixel_conv_point vs core::subpixel_conv_naive: both orders and layouts, fp32 and
//     bf16 (fp16 vs the naive run on its fp32-widened inputs);
//   * luma_point vs core::rgb_to_luma bit for bit (every CPU ISA path).
// What this cannot check: launches, shared-memory staging and races (that needs a GPU:
// tests/test_cuda_ops.py and compute-sanitizer, benchmarks/GPU.md).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "core/activation.h"
#include "core/colour.h"
#include "core/isa.h"
#include "core/subpixel_conv.h"
#include "core/tests/check.h"
#include "cuda/arith.h"
#include "cuda/cell_conv_mma.h"
#include "cuda/cell_conv_point.h"
#include "cuda/colour_point.h"
#include "cuda/subpixel_conv_point.h"

namespace {

namespace fc = falsr::cuda;
namespace core = falsr::core;
using fc::StorageType;

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Random float bit patterns: every class (zeros, subnormals, normals, inf, NaN).
std::vector<float> special_and_random_floats(std::mt19937& rng) {
  std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.99f, 65520.0f, 1e-8f,
                          5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f, 6.1035156e-5f,
                          6.1035152e-5f, 3.0517578e-5f, 1e30f, -1e30f, INFINITY, -INFINITY,
                          NAN, float_of(0x7f800001u), float_of(0xffc00000u),
                          float_of(0x00000001u), float_of(0x3f808000u), float_of(0x3f818000u)};
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 200000; ++i) v.push_back(float_of(any(rng)));
  // Near half's range, where rounding and subnormals matter.
  std::uniform_real_distribution<float> small(-1e-4f, 1e-4f), mid(-70000.0f, 70000.0f);
  for (int i = 0; i < 100000; ++i) {
    v.push_back(small(rng));
    v.push_back(mid(rng));
  }
  // Ties of the half rounding: half mantissa boundaries +- 1 float ulp.
  for (int i = 0; i < 20000; ++i) {
    const uint32_t u = (any(rng) & 0xffffe000u) | 0x1000u;
    v.push_back(float_of(u));
    v.push_back(float_of(u + 1));
    v.push_back(float_of(u - 1));
  }
  return v;
}

void test_bf16(std::mt19937& rng) {
  int bad = 0;
  for (uint32_t b = 0; b < 65536; ++b) {
    const float a = fc::bf16_bits_to_float(static_cast<uint16_t>(b));
    const float r = core::bf16_to_float(static_cast<uint16_t>(b));
    if (bits_of(a) != bits_of(r)) ++bad;
  }
  CHECK_EQ(bad, 0);
  bad = 0;
  for (float f : special_and_random_floats(rng)) {
    const uint16_t a = fc::float_to_bf16_bits(f);
    if (a != core::float_to_bf16(f) || a != core::spc_float_to_bf16(f)) ++bad;
  }
  CHECK_EQ(bad, 0);
}

void test_f16(std::mt19937& rng) {
// _Float16 in C++: Clang, GCC 12 on x86-64, GCC 13+ elsewhere (GCC 12 for aarch64 defines
// __FLT16_MAX__ but has no C++ _Float16).
#if defined(__FLT16_MAX__) && \
    (defined(__clang__) || defined(__x86_64__) || (defined(__GNUC__) && __GNUC__ >= 13))
  int bad = 0;
  for (uint32_t b = 0; b < 65536; ++b) {
    const auto h = static_cast<uint16_t>(b);
    _Float16 ref;
    std::memcpy(&ref, &h, 2);
    const float a = fc::f16_bits_to_float(h);
    const float r = static_cast<float>(ref);
    if (std::isnan(r) ? !std::isnan(a) : bits_of(a) != bits_of(r)) ++bad;
    // Every half survives the round trip (NaNs as NaNs).
    const uint16_t back = fc::float_to_f16_bits(a);
    if (std::isnan(r) ? (back & 0x7fffu) <= 0x7c00u : back != h) ++bad;
  }
  CHECK_EQ(bad, 0);
  bad = 0;
  for (float f : special_and_random_floats(rng)) {
    const uint16_t a = fc::float_to_f16_bits(f);
    const _Float16 ref = static_cast<_Float16>(f);
    uint16_t r;
    std::memcpy(&r, &ref, 2);
    if (std::isnan(f) ? a != ((bits_of(f) >> 16 & 0x8000u) | 0x7e00u) : a != r) {
      if (++bad < 5) std::fprintf(stderr, "f16(%a): got %04x, expected %04x\n", f, a, r);
    }
  }
  CHECK_EQ(bad, 0);
#else
  std::printf("this compiler has no _Float16: fp16 conversions checked by round trip only\n");
  int bad = 0;
  for (uint32_t b = 0; b < 65536; ++b) {
    const auto h = static_cast<uint16_t>(b);
    if ((h & 0x7fffu) > 0x7c00u) continue;
    if (fc::float_to_f16_bits(fc::f16_bits_to_float(h)) != h) ++bad;
  }
  CHECK_EQ(bad, 0);
  (void)rng;
#endif
}

// --- cell conv ---------------------------------------------------------------------------

// A host buffer holding an NHWC plane (possibly a channel slice of a wider one).
struct HostPlane {
  std::vector<uint8_t> bytes;
  StorageType type;
  int64_t channels, pixel_stride, offset;  // offset: first channel within the pixel
  fc::DevPlane view() const {
    return {bytes.data() + offset * fc::storage_bytes(type), type, channels, pixel_stride};
  }
  double at(int64_t pixel, int64_t c) const {
    return fc::load_as_float(bytes.data(), pixel * pixel_stride + offset + c, type);
  }
};

HostPlane random_plane(std::mt19937& rng, int64_t pixels, int64_t channels, StorageType type) {
  std::uniform_int_distribution<int64_t> extra(0, 3);
  HostPlane p{{}, type, channels, 0, extra(rng)};
  p.pixel_stride = channels + p.offset + extra(rng);
  const int64_t elems = pixels * p.pixel_stride;
  p.bytes.resize(static_cast<size_t>(elems * fc::storage_bytes(type)));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int64_t i = 0; i < elems; ++i) fc::store_from_float(p.bytes.data(), i, type, u(rng));
  return p;
}

StorageType random_type(std::mt19937& rng) {
  return static_cast<StorageType>(std::uniform_int_distribution<int>(0, 2)(rng));
}

double tolerance(StorageType out, double ref, double scale) {
  const double rel = out == StorageType::F32 ? 2e-6 : out == StorageType::BF16 ? 8e-3 : 1e-3;
  return rel * std::fabs(ref) + 1e-5 * scale;
}

template <int COB>
void run_point_packed(const fc::CellConvParams& p, int64_t pixel, int64_t co0) {
  const int64_t cig = p.in_channels / p.groups;
  const int32_t kk = p.kernel * p.kernel;
  std::vector<float> packed(static_cast<size_t>(cig * kk * COB));
  for (int64_t i = 0; i < static_cast<int64_t>(packed.size()); ++i) {
    packed[i] = p.weight[fc::packed_weight_source(i, cig, kk, COB, co0)];
  }
  fc::cell_conv_point<COB>(p, pixel, co0, fc::PackedWeights{packed.data(), kk, COB});
}

template <int COB>
void run_point(const fc::CellConvParams& p, int64_t pixel, int64_t co0, bool packed) {
  if (packed) {
    run_point_packed<COB>(p, pixel, co0);
  } else {
    const int64_t cig = p.in_channels / p.groups;
    fc::cell_conv_point<COB>(p, pixel, co0,
                             fc::GlobalWeights{p.weight, cig, p.kernel * p.kernel, co0});
  }
}

// One block of the tensor-core kernel with the 16x16x16 tile products emulated: the same
// shared-memory fills and epilogue, products of 16-bit operands summed in fp32.
void emulate_mma_block(const fc::CellConvParams& p, StorageType t, int64_t m0, int64_t n0) {
  constexpr int M = fc::kMmaBlockM, N = fc::kMmaBlockN, K = fc::kMmaBlockK;
  std::vector<uint16_t> a(M * K), b(K * N);
  std::vector<float> c(M * N, 0.0f);
  for (int64_t k0 = 0; k0 < p.in_channels * p.kernel * p.kernel; k0 += K) {
    // The kernel's runs (two per A row, four per B row), checked against the element oracle.
    for (int32_t row = 0; row < M; ++row)
      for (int32_t kq0 = 0; kq0 < K; kq0 += K / 2)
        fc::mma_a_fill_run(p, m0, k0, row, kq0, K / 2, a.data() + row * K + kq0);
    for (int32_t krow = 0; krow < K; ++krow)
      for (int32_t nq0 = 0; nq0 < N; nq0 += N / 4)
        fc::mma_b_fill_run(p, k0, n0, krow, nq0, N / 4, t, b.data() + krow * N + nq0);
    int mismatches = 0;
    for (int32_t i = 0; i < M * K; ++i) mismatches += a[i] != fc::mma_a_element(p, m0, k0, i);
    for (int32_t i = 0; i < K * N; ++i) mismatches += b[i] != fc::mma_b_element(p, k0, n0, i, t);
    CHECK_EQ(mismatches, 0);
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n)
        for (int kq = 0; kq < K; ++kq) {
          c[m * N + n] += fc::from_bits16(a[m * K + kq], t) * fc::from_bits16(b[kq * N + n], t);
        }
  }
  for (int32_t i = 0; i < M * N; ++i) fc::mma_epilogue_element(p, m0, n0, i, c.data());
}

// mode: 0 direct kernel with global weights, 1 direct with packed (shared-memory) weights,
// 2 the tensor-core kernel (groups 1, every input of the 16-bit type `mma_type`).
void check_cell_conv_case(std::mt19937& rng, int64_t groups, int64_t cin_per_group,
                          int64_t cout_per_group, int32_t k, int mode,
                          StorageType mma_type = StorageType::BF16) {
  const bool packed = mode == 1;
  std::uniform_int_distribution<int64_t> dim(1, 7), coin(0, 1);
  const int64_t n = dim(rng) % 2 + 1, h = dim(rng), w = dim(rng) + 1;
  const int64_t pixels = n * h * w;
  const int64_t cin = groups * cin_per_group, cout = groups * cout_per_group;
  // Split the input channels into 1..4 planes of random types.
  std::vector<HostPlane> planes;
  int64_t left = cin;
  while (left > 0) {
    const int64_t c = planes.size() == 3 ? left
                                         : std::uniform_int_distribution<int64_t>(1, left)(rng);
    planes.push_back(random_plane(rng, pixels, c, mode == 2 ? mma_type : random_type(rng)));
    left -= c;
  }
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> weight(static_cast<size_t>(cout * cin_per_group * k * k)), bias(cout);
  for (float& x : weight) x = u(rng);
  for (float& x : bias) x = u(rng);
  const bool has_bias = coin(rng), relu = coin(rng);
  const int num_res = static_cast<int>(std::uniform_int_distribution<int>(0, 2)(rng));
  std::vector<HostPlane> res;
  for (int i = 0; i < num_res; ++i) res.push_back(random_plane(rng, pixels, cout, random_type(rng)));
  HostPlane out = random_plane(rng, pixels, cout, random_type(rng));

  fc::CellConvParams p;
  p.batch = n;
  p.height = h;
  p.width = w;
  p.num_inputs = static_cast<int32_t>(planes.size());
  for (size_t i = 0; i < planes.size(); ++i) p.inputs[i] = planes[i].view();
  p.weight = weight.data();
  p.bias = has_bias ? bias.data() : nullptr;
  p.in_channels = cin;
  p.out_channels = cout;
  p.kernel = k;
  p.groups = groups;
  p.relu = relu;
  p.num_residuals = num_res;
  for (int i = 0; i < num_res; ++i) p.residuals[i] = res[i].view();
  p.out = {out.bytes.data() + out.offset * fc::storage_bytes(out.type), out.type, cout,
           out.pixel_stride};

  StorageType t16 = StorageType::F32;
  bool one_16bit_type = planes[0].type != StorageType::F32;
  for (const HostPlane& pl : planes) one_16bit_type &= pl.type == planes[0].type;
  CHECK(fc::cell_conv_mma_applies(p, &t16) == (groups == 1 && cout % 16 == 0 && one_16bit_type));
  if (mode == 2) {
    // The kernel rounds the weights to the 16-bit type: so does the reference.
    for (float& x : weight) x = fc::from_bits16(fc::to_bits16(x, mma_type), mma_type);
    for (int64_t m0 = 0; m0 < pixels; m0 += fc::kMmaBlockM)
      for (int64_t n0 = 0; n0 < cout; n0 += fc::kMmaBlockN) emulate_mma_block(p, t16, m0, n0);
  }
  const int cob = cin_per_group == 1 && cout_per_group == 1 ? 1 : fc::cell_conv_block(cout_per_group);
  for (int64_t px = 0; px < pixels && mode != 2; ++px) {
    for (int64_t co0 = 0; co0 < cout; co0 += cob) {
      switch (cob) {
        case 8: run_point<8>(p, px, co0, packed); break;
        case 4: run_point<4>(p, px, co0, packed); break;
        case 2: run_point<2>(p, px, co0, packed); break;
        default: run_point<1>(p, px, co0, packed); break;
      }
    }
  }

  // Double reference from the logical concat.
  auto in_at = [&](int64_t pixel, int64_t c) {
    for (const HostPlane& pl : planes) {
      if (c < pl.channels) return pl.at(pixel, c);
      c -= pl.channels;
    }
    return 0.0;
  };
  int bad = 0;
  const int64_t r = k / 2;
  for (int64_t nn = 0; nn < n; ++nn)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int64_t co = 0; co < cout; ++co) {
          const int64_t g = co / cout_per_group;
          double acc = has_bias ? bias[co] : 0.0, mag = std::fabs(acc);
          for (int64_t ci = 0; ci < cin_per_group; ++ci)
            for (int64_t ky = 0; ky < k; ++ky)
              for (int64_t kx = 0; kx < k; ++kx) {
                const int64_t iy = y + ky - r, ix = x + kx - r;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                const double term = in_at((nn * h + iy) * w + ix, g * cin_per_group + ci) *
                                    weight[((co * cin_per_group + ci) * k + ky) * k + kx];
                acc += term;
                mag += std::fabs(term);
              }
          if (relu) acc = acc > 0 ? acc : 0;
          const int64_t pixel = (nn * h + y) * w + x;
          for (const HostPlane& rp : res) acc += rp.at(pixel, co);
          const double got = out.at(pixel, co);
          if (std::fabs(got - acc) > tolerance(out.type, acc, mag + 1.0)) {
            if (++bad < 4) {
              std::fprintf(stderr, "cell_conv g%lld ci%lld co%lld k%d: (%lld,%lld) c%lld %g vs %g\n",
                           (long long)groups, (long long)cin_per_group, (long long)cout_per_group,
                           k, (long long)y, (long long)x, (long long)co, got, acc);
            }
          }
        }
  CHECK_EQ(bad, 0);
}

void test_cell_conv(std::mt19937& rng) {
  for (int32_t k : {1, 3}) {
    for (int mode : {0, 1}) {
      check_cell_conv_case(rng, 1, 5, 8, k, mode);    // dense, COB 8
      check_cell_conv_case(rng, 1, 13, 12, k, mode);  // COB 4
      check_cell_conv_case(rng, 1, 3, 6, k, mode);    // COB 2
      check_cell_conv_case(rng, 1, 4, 3, k, mode);    // COB 1
      check_cell_conv_case(rng, 2, 6, 4, k, mode);    // grouped
      check_cell_conv_case(rng, 4, 2, 16, k, mode);
      check_cell_conv_case(rng, 9, 1, 1, k, 0);       // depthwise (the global kernel)
    }
    for (StorageType t : {StorageType::BF16, StorageType::F16}) {
      check_cell_conv_case(rng, 1, 37, 16, k, 2, t);  // tensor cores: K and M tails
      check_cell_conv_case(rng, 1, 16, 48, k, 2, t);  // N tail (48 = 32 + 16)
      check_cell_conv_case(rng, 1, 64, 32, k, 2, t);
    }
  }
  for (int i = 0; i < 12; ++i) {
    std::uniform_int_distribution<int64_t> g(1, 4), c(1, 9);
    check_cell_conv_case(rng, g(rng), c(rng), c(rng), i % 2 ? 3 : 1, i % 3 != 0 ? 1 : 0);
  }
  CHECK_EQ(fc::cell_conv_block(64), 8);
  CHECK_EQ(fc::cell_conv_block(12), 4);
  CHECK_EQ(fc::cell_conv_block(6), 2);
  CHECK_EQ(fc::cell_conv_block(5), 1);
}

// --- sub-pixel conv ----------------------------------------------------------------------

template <StorageType T>
void run_subpixel_points(const fc::SubpixelConvParams& p, int64_t total) {
  for (int64_t i = 0; i < total; ++i) fc::subpixel_conv_point<T>(p, i);
}

void check_subpixel_case(std::mt19937& rng, StorageType type, core::ChannelOrder order,
                         core::Layout layout) {
  std::uniform_int_distribution<int64_t> dim(1, 6), sc(1, 3), co(1, 4), coin(0, 1);
  const int64_t s = sc(rng), c_hr = dim(rng) % 3 + 1, k = coin(rng) ? 3 : 1;
  const core::SubpixelConvGeometry g = core::make_subpixel_conv_geometry(
      dim(rng) % 2 + 1, c_hr * s * s, dim(rng), dim(rng), s, co(rng), c_hr, k);
  const int64_t in_n = core::subpixel_conv_in_numel(g), out_n = core::subpixel_conv_out_numel(g);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t es = fc::storage_bytes(type);
  std::vector<uint8_t> x(in_n * es), res(in_n * es), out(out_n * es);
  std::vector<float> xf(in_n), rf(in_n), wt(g.c_out * c_hr * k * k), bias(g.c_out), ref(out_n);
  for (int64_t i = 0; i < in_n; ++i) {
    fc::store_from_float(x.data(), i, type, u(rng));
    fc::store_from_float(res.data(), i, type, u(rng));
    xf[i] = fc::load_as_float(x.data(), i, type);
    rf[i] = fc::load_as_float(res.data(), i, type);
  }
  for (float& v : wt) v = u(rng);
  for (float& v : bias) v = u(rng);
  const bool has_res = coin(rng), has_bias = coin(rng);

  fc::SubpixelConvParams p;
  p.g = g;
  p.x = x.data();
  p.residual = has_res ? res.data() : nullptr;
  p.weight = wt.data();
  p.bias = has_bias ? bias.data() : nullptr;
  p.out = out.data();
  p.type = type;
  p.order = order;
  p.layout = layout;
  switch (type) {
    case StorageType::F32: run_subpixel_points<StorageType::F32>(p, out_n); break;
    case StorageType::BF16: run_subpixel_points<StorageType::BF16>(p, out_n); break;
    default: run_subpixel_points<StorageType::F16>(p, out_n); break;
  }

  // The CPU naive op on the fp32-widened inputs (exact for every storage type).
  core::SubpixelConvArgs a;
  a.x = xf.data();
  a.residual = has_res ? rf.data() : nullptr;
  a.weight = wt.data();
  a.bias = has_bias ? bias.data() : nullptr;
  a.out = ref.data();
  a.dtype = core::SubpixelDType::Float32;
  a.order = order;
  a.layout = layout;
  core::subpixel_conv_naive(a, g);
  int bad = 0;
  const double mag = 2.0 * c_hr * k * k + 1.0;
  for (int64_t i = 0; i < out_n; ++i) {
    const double got = fc::load_as_float(out.data(), i, type);
    if (std::fabs(got - ref[i]) > tolerance(type, ref[i], mag)) ++bad;
  }
  CHECK_EQ(bad, 0);

  if (type == StorageType::BF16) {  // bit-level agreement of the bf16 storage path
    std::vector<uint8_t> ref16(out_n * 2);
    core::SubpixelConvArgs b = a;
    b.x = x.data();
    b.residual = has_res ? res.data() : nullptr;
    b.out = ref16.data();
    b.dtype = core::SubpixelDType::BFloat16;
    core::subpixel_conv_naive(b, g);
    int far = 0;
    for (int64_t i = 0; i < out_n; ++i) {
      const double d = fc::load_as_float(out.data(), i, type) -
                       fc::load_as_float(ref16.data(), i, type);
      if (std::fabs(d) > tolerance(type, ref[i], mag)) ++far;
    }
    CHECK_EQ(far, 0);
  }
}

void test_subpixel(std::mt19937& rng) {
  for (StorageType t : {StorageType::F32, StorageType::BF16, StorageType::F16})
    for (auto order : {core::ChannelOrder::Torch, core::ChannelOrder::TF})
      for (auto layout : {core::Layout::NCHW, core::Layout::NHWC})
        for (int rep = 0; rep < 4; ++rep) check_subpixel_case(rng, t, order, layout);
}

// --- luma ----------------------------------------------------------------------------------

template <class In>
void check_luma(std::mt19937& rng, core::PixelType type) {
  std::uniform_int_distribution<int64_t> dim(1, 19), extra(0, 2);
  const int64_t h = dim(rng), w = dim(rng), ps = 3 + extra(rng), rs = w * ps + extra(rng);
  std::vector<In> img(static_cast<size_t>(h * rs));
  for (In& v : img) {
    if constexpr (std::is_floating_point_v<In>) {
      v = static_cast<In>(std::uniform_real_distribution<double>(0.0, 1.0)(rng));
    } else {
      v = static_cast<In>(std::uniform_int_distribution<uint32_t>(0, 65535)(rng));
    }
  }
  std::vector<float> ref(h * w);
  core::rgb_to_luma(img.data(), type, h, w, rs, ps, ref.data(), 0, h);
  int bad = 0;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      if (bits_of(fc::luma_point(img.data(), y, x, rs, ps)) != bits_of(ref[y * w + x])) ++bad;
    }
  CHECK_EQ(bad, 0);
}

void test_luma(std::mt19937& rng) {
  for (const char* isa : {"generic", "avx2", "avx512"}) {
    setenv("FALSR_CPU_ISA", isa, 1);
    for (int rep = 0; rep < 3; ++rep) {
      check_luma<uint8_t>(rng, core::PixelType::U8);
      check_luma<uint16_t>(rng, core::PixelType::U16);
      check_luma<float>(rng, core::PixelType::F32);
      check_luma<double>(rng, core::PixelType::F64);
    }
  }
  unsetenv("FALSR_CPU_ISA");
}

}  // namespace

int main() {
  std::mt19937 rng(2024);
  test_bf16(rng);
  test_f16(rng);
  test_cell_conv(rng);
  test_subpixel(rng);
  test_luma(rng);
  return falsr::test::report("test_cuda_arith");
}
