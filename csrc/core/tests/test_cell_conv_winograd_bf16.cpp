// C++ tests of the bf16 Winograd F(2x2, 3x3) cell_conv path (cell_conv_winograd_bf16.cpp)
// against a double-accumulating textbook convolution of the same bf16 input values and
// fp32 weights: random shapes (1-3 bf16 input planes with odd channel counts, strided
// planes, odd H and W from 1 to 37, batch 1-2), ReLU, bias, residual (fp32 / bf16), fp32
// and bf16 outputs, tasks run in random ranges; the output's pixel-stride gap must stay
// untouched; a large output takes the streaming-store epilogue. The error relative to
// sum |terms| must stay <= 2e-2 (V and U are rounded to bf16); the direct bf16 path's
// error on the same cases is printed beside it. Also: when the factory declines.
// Skips (exit 0) on a CPU without avx512_bf16.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/cell_conv_paths.h"

namespace falsr::core {
std::unique_ptr<CellConvPlan> make_winograd_bf16_cell_conv_plan(const CellConvArgs& a, Isa isa);
}
#include "core/tests/check.h"

namespace {

using namespace falsr::core;

struct Buffer {  // one NHWC plane's storage, fp32 or bf16 bits, 64-byte aligned
  DType dtype = DType::F32;
  int64_t channels = 0, stride = 0, offset = 0;  // offset: elements up to the alignment
  std::vector<float> f32;
  std::vector<uint16_t> b16;
  float at(int64_t pixel, int64_t c) const {
    const int64_t i = offset + pixel * stride + c;
    return dtype == DType::F32 ? f32[i] : bf16_to_float(b16[i]);
  }
  void* data() {
    return dtype == DType::F32 ? static_cast<void*>(f32.data() + offset)
                               : static_cast<void*>(b16.data() + offset);
  }
};

Buffer random_buffer(std::mt19937& rng, int64_t pixels, int64_t channels, int64_t stride,
                     DType dtype) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Buffer b;
  b.dtype = dtype;
  b.channels = channels;
  b.stride = stride;
  const size_t count = static_cast<size_t>(pixels * stride) + 32;
  if (dtype == DType::F32) {
    b.f32.resize(count);
    for (float& v : b.f32) v = dist(rng);
    b.offset = (64 - reinterpret_cast<uintptr_t>(b.f32.data()) % 64) % 64 / 4;
  } else {
    b.b16.resize(count);
    for (uint16_t& v : b.b16) v = float_to_bf16(dist(rng));
    b.offset = (64 - reinterpret_cast<uintptr_t>(b.b16.data()) % 64) % 64 / 2;
  }
  return b;
}

struct Case {
  int64_t n, h, w, cout;
  std::vector<int64_t> in_channels;
  bool relu, bias, residual;
  DType out_dtype, res_dtype;
  int64_t out_stride_extra = -1;  // -1: random
  bool sample = false;  // check the border pixels and a random 2 % of the rest
};

struct Errors {  // largest error relative to sum |terms|, fp32 outputs only
  double winograd = 0.0, direct = 0.0;
};

// Runs `plan` over its tasks in random contiguous ranges, in reverse order (tasks are
// independent).
void run_plan(std::mt19937& rng, const CellConvPlan& plan, const CellConvArgs& a) {
  const int64_t tasks = plan.num_tasks();
  std::vector<int64_t> cuts{0, tasks};
  for (int i = 0; i < 3; ++i) cuts.push_back(static_cast<int64_t>(rng() % (tasks + 1)));
  std::sort(cuts.begin(), cuts.end());
  for (size_t i = cuts.size() - 1; i > 0; --i) plan.run_tasks(a, cuts[i - 1], cuts[i]);
}

Errors run_case(std::mt19937& rng, const Case& k) {
  const int64_t pixels = k.n * k.h * k.w;
  std::vector<Buffer> ins;
  CellConvArgs a;
  a.batch = k.n;
  a.height = k.h;
  a.width = k.w;
  int64_t cin = 0;
  for (int64_t c : k.in_channels) {
    const int64_t stride = c + static_cast<int64_t>(rng() % 3) * 5;  // sometimes strided
    ins.push_back(random_buffer(rng, pixels, c, stride, DType::BF16));
    cin += c;
  }
  for (Buffer& b : ins) a.inputs.push_back({b.data(), DType::BF16, b.channels, b.stride});
  const float wscale = 1.0f / std::sqrt(9.0f * cin);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> weight(static_cast<size_t>(k.cout * cin * 9)), bias(k.cout);
  for (float& v : weight) v = dist(rng) * wscale;
  for (float& v : bias) v = dist(rng) * 0.5f;
  Buffer res;
  if (k.residual) res = random_buffer(rng, pixels, k.cout, k.cout + 3, k.res_dtype);
  const int64_t out_stride =
      k.cout + (k.out_stride_extra >= 0 ? k.out_stride_extra : static_cast<int64_t>(rng() % 2) * 7);
  Buffer out = random_buffer(rng, pixels, k.cout, out_stride, k.out_dtype);
  const Buffer sentinel = out;
  Buffer direct_out = out;

  a.weight = weight.data();
  a.bias = k.bias ? bias.data() : nullptr;
  a.out_channels = k.cout;
  a.kernel = 3;
  a.groups = 1;
  a.relu = k.relu;
  a.has_residual = k.residual;
  if (k.residual) {
    a.residual = {res.data(), k.res_dtype, k.cout, res.stride};
  }
  a.out = {out.data(), k.out_dtype, k.cout, out_stride};

  Errors worst;
  auto plan = make_winograd_bf16_cell_conv_plan(a, Isa::Avx512Bf16);
  CHECK(plan != nullptr);
  if (!plan) return worst;
  CHECK(plan->path() == "avx512_bf16/winograd2");
  run_plan(rng, *plan, a);
  // The direct bf16 path on the same case, for the error comparison.
  CellConvArgs d = a;
  d.out.data = direct_out.data();
  auto direct = make_bf16_cell_conv_plan(d, Isa::Avx512Bf16);
  CHECK(direct != nullptr);
  if (direct) run_plan(rng, *direct, d);

  int bad = 0;
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t y = 0; y < k.h; ++y)
      for (int64_t x = 0; x < k.w; ++x) {
        const bool border = y < 3 || y >= k.h - 3 || x < 3 || x >= k.w - 3;
        if (k.sample && !border && rng() % 50 != 0) continue;
        const int64_t pixel = (n * k.h + y) * k.w + x;
        for (int64_t co = 0; co < k.cout; ++co) {
          double acc = k.bias ? bias[co] : 0.0, mag = std::fabs(acc);
          int64_t c0 = 0;
          for (const Buffer& b : ins) {
            for (int64_t ci = 0; ci < b.channels; ++ci)
              for (int64_t ky = 0; ky < 3; ++ky)
                for (int64_t kx = 0; kx < 3; ++kx) {
                  const int64_t yy = y + ky - 1, xx = x + kx - 1;
                  if (yy < 0 || yy >= k.h || xx < 0 || xx >= k.w) continue;
                  const double term =
                      double(weight[((co * cin + c0 + ci) * 3 + ky) * 3 + kx]) *
                      b.at((n * k.h + yy) * k.w + xx, ci);
                  acc += term;
                  mag += std::fabs(term);
                }
            c0 += b.channels;
          }
          if (k.relu) acc = std::max(acc, 0.0);
          if (k.residual) {
            acc += res.at(pixel, co);
            mag += std::fabs(res.at(pixel, co));
          }
          const double got = out.at(pixel, co);
          const double err = std::fabs(got - acc);
          const double tol = 2e-2 * mag + 1e-6 +
                             (k.out_dtype == DType::BF16 ? std::ldexp(std::fabs(acc), -8) : 0.0);
          if (k.out_dtype == DType::F32) {
            worst.winograd = std::max(worst.winograd, err / (mag + 1e-30));
            worst.direct =
                std::max(worst.direct, std::fabs(direct_out.at(pixel, co) - acc) / (mag + 1e-30));
          }
          if (!(err <= tol) && bad++ < 3) {
            std::fprintf(stderr, "n%lld y%lld x%lld co%lld: got %.8g want %.8g (tol %.3g)\n",
                         (long long)n, (long long)y, (long long)x, (long long)co, got, acc, tol);
          }
        }
        for (int64_t c = k.cout; c < out_stride; ++c) {  // the gap stays untouched
          if (out.at(pixel, c) != sentinel.at(pixel, c) && bad++ < 3) {
            std::fprintf(stderr, "pixel %lld: channel gap %lld written\n", (long long)pixel,
                         (long long)c);
          }
        }
      }
  CHECK_EQ(bad, 0);
  return worst;
}

CellConvArgs declinable_args(std::vector<uint16_t>& storage, std::vector<float>& weight) {
  CellConvArgs a;
  a.batch = 1;
  a.height = 4;
  a.width = 4;
  storage.assign(16 * 32, float_to_bf16(0.5f));
  weight.assign(32 * 32 * 9, 0.25f);
  a.inputs.push_back({storage.data(), DType::BF16, 32, 32});
  a.weight = weight.data();
  a.out_channels = 32;
  a.kernel = 3;
  a.groups = 1;
  return a;
}

void test_declines() {
  std::vector<uint16_t> storage;
  std::vector<float> weight;
  const auto make = [&](const CellConvArgs& a, Isa isa) {
    return make_winograd_bf16_cell_conv_plan(a, isa) != nullptr;
  };
  CHECK(make(declinable_args(storage, weight), Isa::Avx512Bf16));
  CHECK(make(declinable_args(storage, weight), Isa::Amx));
  CHECK(!make(declinable_args(storage, weight), Isa::Avx512));
  CHECK(!make(declinable_args(storage, weight), Isa::Avx2));
  CHECK(!make(declinable_args(storage, weight), Isa::Generic));
  // The ISA cap: under FALSR_CPU_ISA=avx512 the caller's max_isa() rules the path out.
  setenv("FALSR_CPU_ISA", "avx512", 1);
  CHECK(!make(declinable_args(storage, weight), max_isa()));
  setenv("FALSR_CPU_ISA", "avx512_bf16", 1);
  CHECK(make(declinable_args(storage, weight), max_isa()));
  unsetenv("FALSR_CPU_ISA");
  auto a = declinable_args(storage, weight);
  a.kernel = 1;
  CHECK(!make(a, Isa::Avx512Bf16));
  a = declinable_args(storage, weight);
  a.groups = 2;
  CHECK(!make(a, Isa::Avx512Bf16));
  a = declinable_args(storage, weight);
  a.algo = ConvAlgo::Direct;
  CHECK(!make(a, Isa::Avx512Bf16));
  a = declinable_args(storage, weight);
  a.inputs[0].dtype = DType::F32;  // fp32 input (storage reinterpreted: never run)
  CHECK(!make(a, Isa::Avx512Bf16));
  a = declinable_args(storage, weight);
  a.inputs[0].channels = 16;  // bf16 + fp32 planes mixed
  a.inputs.push_back({weight.data(), DType::F32, 16, 16});
  CHECK(!make(a, Isa::Avx512Bf16));
  a = declinable_args(storage, weight);
  a.inputs[0].channels = 15;
  CHECK(!make(a, Isa::Avx512Bf16));
  a = declinable_args(storage, weight);
  a.out_channels = 15;
  CHECK(!make(a, Isa::Avx512Bf16));
}

}  // namespace

int main() {
  if (cpu_isa() < Isa::Avx512Bf16) {
    std::printf("test_cell_conv_winograd_bf16: skipped (this CPU lacks avx512_bf16)\n");
    return 0;
  }
  test_declines();
  std::mt19937 rng(20261124);
  // Over 128 channels the GEMM splits the channels into chunks (accumulating calls).
  const std::vector<std::vector<int64_t>> channel_sets = {
      {17}, {48}, {64, 48}, {16, 5, 23}, {64}, {33, 64, 7}, {64, 48, 33}, {200, 61}};
  const int64_t couts[] = {16, 17, 32, 48, 64, 80, 100};
  Errors worst;
  const auto keep = [&worst](const Errors& e) {
    worst.winograd = std::max(worst.winograd, e.winograd);
    worst.direct = std::max(worst.direct, e.direct);
  };
  for (int i = 0; i < 48; ++i) {
    Case k;
    k.n = 1 + rng() % 2;
    k.h = 1 + rng() % 37;
    k.w = 1 + rng() % 37;
    if (i < 4) {  // the smallest sizes and a wide row for multi-block columns
      k.h = 1 + i;
      k.w = i == 3 ? 150 : 1 + i;
    }
    k.in_channels = channel_sets[rng() % channel_sets.size()];
    k.cout = couts[rng() % 7];
    if (i == 3) k.in_channels = {200, 61};  // several column blocks with split channels
    k.relu = rng() % 2;
    k.bias = rng() % 4 != 0;
    k.residual = rng() % 2;
    k.out_dtype = rng() % 3 == 0 ? DType::BF16 : DType::F32;
    k.res_dtype = rng() % 2 ? DType::BF16 : DType::F32;
    keep(run_case(rng, k));
  }
  // A 17 MB fp32 output of whole 64-byte lines: the streaming-store epilogue.
  Case big{1, 260, 260, 64, {17, 31}, true, true, true, DType::F32, DType::F32, 0, true};
  keep(run_case(rng, big));
  big.out_stride_extra = 16;  // strided, still whole lines
  big.relu = false;
  keep(run_case(rng, big));
  std::printf("worst error relative to sum |terms| (fp32 outputs): winograd bf16 %.3g, "
              "direct bf16 %.3g\n", worst.winograd, worst.direct);
  return falsr::test::report("test_cell_conv_winograd_bf16");
}
