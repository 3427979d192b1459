// C++ tests of the depthwise cell_conv path (cell_conv_depthwise.cpp) against the double-
// accumulating cell_conv_naive, at every instruction-set level this CPU has (FALSR_CPU_ISA
// = generic, avx2, avx512, avx512_bf16): random shapes (1-3 planes of fp32 / bf16, channel
// counts not multiples of the lanes, channel slices with pixel_stride > channels, widths
// and heights from 1), k 1/3, ReLU, bias, fp32 / bf16 residual and output; task-range
// splitting; the cases the factory declines; ConvAlgo::Direct keeps the direct path.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cell_conv.h"
#include "core/cell_conv_paths.h"
#include "core/tests/check.h"

namespace {

using falsr::core::bf16_to_float;
using falsr::core::CellConvArgs;
using falsr::core::DType;
using falsr::core::float_to_bf16;
using falsr::core::Isa;
using falsr::core::MutPlane;
using falsr::core::Plane;

struct PlaneSpec {
  int64_t channels = 1, stride = 1;
  DType dtype = DType::BF16;
};

struct Case {
  int64_t n = 1, h = 1, w = 1, k = 3, groups = 1, cout = 1;
  std::vector<PlaneSpec> inputs;
  bool relu = false, bias = false, residual = false;
  PlaneSpec res, out;
};

// Raw storage of one plane, fp32 or bf16 bits, padding filled with a sentinel.
struct Buffer {
  std::vector<float> f;
  std::vector<uint16_t> b;
  DType dtype = DType::F32;
  void* data() { return dtype == DType::F32 ? static_cast<void*>(f.data()) : b.data(); }
  float get(size_t i) const { return dtype == DType::F32 ? f[i] : bf16_to_float(b[i]); }
};

float random_value(std::mt19937& rng) {
  const float v = std::uniform_real_distribution<float>(0.1f, 1.0f)(rng);
  return std::bernoulli_distribution(0.5)(rng) ? -v : v;
}

Buffer random_buffer(int64_t pixels, const PlaneSpec& s, std::mt19937& rng) {
  Buffer buf;
  buf.dtype = s.dtype;
  const size_t size = static_cast<size_t>(pixels * s.stride);
  std::vector<float> v(size);
  for (size_t i = 0; i < size; ++i) {
    const bool pad = static_cast<int64_t>(i % static_cast<size_t>(s.stride)) >= s.channels;
    v[i] = pad ? 777.0f : random_value(rng);
  }
  if (s.dtype == DType::F32) {
    buf.f = v;
  } else {
    buf.b.resize(size);
    for (size_t i = 0; i < size; ++i) buf.b[i] = float_to_bf16(v[i]);
  }
  return buf;
}

Buffer abs_of(const Buffer& in) {
  Buffer o = in;
  for (float& x : o.f) x = std::fabs(x);
  for (uint16_t& x : o.b) x = static_cast<uint16_t>(x & 0x7fffu);
  return o;
}

Buffer empty_out(int64_t pixels, const PlaneSpec& s) {
  Buffer o;
  o.dtype = s.dtype;
  const size_t size = static_cast<size_t>(pixels * s.stride);
  if (o.dtype == DType::F32) {
    o.f.assign(size, -555.0f);
  } else {
    o.b.assign(size, float_to_bf16(-555.0f));
  }
  return o;
}

struct Problem {
  Case c;
  std::vector<Buffer> inputs;
  Buffer residual;
  std::vector<float> weight, bias;
  int64_t cin = 0;

  int64_t pixels() const { return c.n * c.h * c.w; }

  CellConvArgs args(std::vector<Buffer>& in, Buffer* res, const std::vector<float>& w,
                    const std::vector<float>& b, Buffer& out, bool relu) const {
    CellConvArgs a;
    a.batch = c.n;
    a.height = c.h;
    a.width = c.w;
    for (size_t i = 0; i < in.size(); ++i) {
      a.inputs.push_back(Plane{in[i].data(), c.inputs[i].dtype, c.inputs[i].channels,
                               c.inputs[i].stride});
    }
    a.weight = w.data();
    a.bias = c.bias ? b.data() : nullptr;
    a.out_channels = c.cout;
    a.kernel = c.k;
    a.groups = c.groups;
    a.relu = relu;
    a.has_residual = c.residual;
    if (c.residual) a.residual = Plane{res->data(), c.res.dtype, c.cout, c.res.stride};
    a.out = MutPlane{out.data(), out.dtype, c.cout, c.out.stride};
    a.algo = falsr::core::ConvAlgo::Auto;
    return a;
  }
};

Problem make_problem(const Case& c, std::mt19937& rng) {
  Problem p;
  p.c = c;
  for (const PlaneSpec& s : c.inputs) {
    p.inputs.push_back(random_buffer(p.pixels(), s, rng));
    p.cin += s.channels;
  }
  if (c.residual) p.residual = random_buffer(p.pixels(), c.res, rng);
  p.weight.resize(static_cast<size_t>(c.cout * (p.cin / c.groups) * c.k * c.k));
  for (float& x : p.weight) x = random_value(rng);
  p.bias.resize(static_cast<size_t>(c.cout));
  for (float& x : p.bias) x = random_value(rng);
  return p;
}

// Half a bf16 ulp at |x| (8 significant bits).
double half_bf16_ulp(double x) {
  int e = 0;
  std::frexp(x, &e);  // x = m * 2^e, 0.5 <= |m| < 1
  return std::ldexp(1.0, e - 9);
}

// Runs the plan (tasks split in two ranges) and compares with the naive reference (fp32
// output); the bound is `rel` times the sum of |terms| (naive on |inputs|, |weights|,
// |bias|, |residual|), plus half a bf16 ulp for a bf16 output.
bool run_and_compare(Problem& p, const std::string& want_path, double rel) {
  const PlaneSpec ref_spec{p.c.cout, p.c.out.stride, DType::F32};
  Buffer out = empty_out(p.pixels(), p.c.out), ref = empty_out(p.pixels(), ref_spec);
  const Buffer empty = empty_out(p.pixels(), p.c.out);
  Buffer* res = p.c.residual ? &p.residual : nullptr;
  CellConvArgs a = p.args(p.inputs, res, p.weight, p.bias, out, p.c.relu);
  std::unique_ptr<falsr::core::CellConvPlan> plan = falsr::core::make_cell_conv_plan(a);
  if (plan->path() != want_path) {
    std::fprintf(stderr, "path %s, expected %s\n", plan->path().c_str(), want_path.c_str());
    return false;
  }
  const int64_t tasks = plan->num_tasks();
  plan->run_tasks(a, 0, tasks / 2);
  plan->run_tasks(a, tasks / 2, tasks);

  falsr::core::cell_conv_naive(p.args(p.inputs, res, p.weight, p.bias, ref, p.c.relu));

  std::vector<Buffer> abs_in;
  for (const Buffer& b : p.inputs) abs_in.push_back(abs_of(b));
  Buffer abs_res = p.c.residual ? abs_of(p.residual) : Buffer{};
  std::vector<float> abs_w = p.weight, abs_b = p.bias;
  for (float& x : abs_w) x = std::fabs(x);
  for (float& x : abs_b) x = std::fabs(x);
  Buffer scale = empty_out(p.pixels(), ref_spec);
  falsr::core::cell_conv_naive(
      p.args(abs_in, p.c.residual ? &abs_res : nullptr, abs_w, abs_b, scale, false));

  const bool bf16_out = p.c.out.dtype == DType::BF16;
  bool ok = true;
  int reported = 0;
  for (int64_t pix = 0; pix < p.pixels(); ++pix) {
    for (int64_t ch = 0; ch < p.c.out.stride; ++ch) {
      const size_t i = static_cast<size_t>(pix * p.c.out.stride + ch);
      const double got = out.get(i), want = ref.get(i);
      bool bad;
      if (ch >= p.c.cout) {
        bad = got != empty.get(i);  // padding of a strided output stays untouched
      } else {
        double tol = rel * scale.f[i] + 1e-30;
        if (bf16_out) tol += half_bf16_ulp(std::max(std::fabs(got), std::fabs(want)));
        bad = !(std::fabs(got - want) <= tol);
      }
      if (bad) {
        ok = false;
        if (reported++ < 3) {
          std::fprintf(stderr, "pixel %lld ch %lld: got %.9g want %.9g (scale %g)\n",
                       static_cast<long long>(pix), static_cast<long long>(ch), got, want,
                       scale.f[i]);
        }
      }
    }
  }
  return ok;
}

std::string describe(const Case& c) {
  std::string s = "n" + std::to_string(c.n) + " h" + std::to_string(c.h) + " w" +
                  std::to_string(c.w) + " k" + std::to_string(c.k) + " g" +
                  std::to_string(c.groups) + " cout" + std::to_string(c.cout) + " in[";
  for (const PlaneSpec& p : c.inputs) {
    s += std::to_string(p.channels) + "/" + std::to_string(p.stride) + " ";
  }
  s += "] relu" + std::to_string(c.relu) + " bias" + std::to_string(c.bias) + " res" +
       std::to_string(c.residual) + (c.residual && c.res.dtype == DType::BF16 ? "bf16" : "") +
       " out" + (c.out.dtype == DType::BF16 ? "bf16" : "f32") + "/" + std::to_string(c.out.stride);
  return s;
}

DType random_dtype(std::mt19937& rng) {
  return std::bernoulli_distribution(0.5)(rng) ? DType::BF16 : DType::F32;
}

Case random_case(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Case c;
  c.n = pick(1, 2);
  c.h = pick(0, 4) == 0 ? 1 : pick(1, 20);
  c.w = pick(0, 4) == 0 ? 1 : pick(1, 45);
  c.k = pick(0, 2) == 0 ? 1 : 3;
  const int64_t cin = pick(1, 70);
  const int planes = static_cast<int>(std::min<int64_t>(cin, pick(1, 3)));
  int64_t left = cin;
  for (int i = 0; i < planes; ++i) {
    PlaneSpec s;
    s.channels = i + 1 == planes ? left : pick(1, static_cast<int>(left - (planes - 1 - i)));
    left -= s.channels;
    s.stride = s.channels + (pick(0, 2) == 0 ? pick(1, 5) : 0);
    s.dtype = random_dtype(rng);
    c.inputs.push_back(s);
  }
  c.groups = cin;
  c.cout = cin;
  c.relu = pick(0, 1) == 1;
  c.bias = pick(0, 1) == 1;
  c.residual = pick(0, 1) == 1;
  c.res = PlaneSpec{c.cout, c.cout + (pick(0, 2) == 0 ? 3 : 0), random_dtype(rng)};
  c.out = PlaneSpec{c.cout, c.cout + (pick(0, 2) == 0 ? 2 : 0), random_dtype(rng)};
  return c;
}

// FALSR-like shapes: full 16-lane blocks, a concat whose planes end mid-vector, a channel
// slice of a wider buffer, tall images (several row pairs and tasks), one pixel.
std::vector<Case> fixed_cases() {
  std::vector<Case> v;
  auto add = [&](int64_t h, int64_t w, int64_t k, std::vector<PlaneSpec> in, bool res, DType out) {
    Case c;
    c.h = h;
    c.w = w;
    c.k = k;
    for (const PlaneSpec& s : in) c.cout += s.channels;
    c.cout -= 1;  // Case starts at 1
    c.groups = c.cout;
    c.inputs = std::move(in);
    c.relu = true;
    c.bias = true;
    c.residual = res;
    c.res = PlaneSpec{c.cout, c.cout, DType::BF16};
    c.out = PlaneSpec{c.cout, c.cout, out};
    v.push_back(c);
  };
  const DType F = DType::F32, B = DType::BF16;
  add(9, 37, 3, {PlaneSpec{64, 64, B}}, false, B);
  add(9, 37, 3, {PlaneSpec{96, 96, F}}, true, F);
  add(7, 21, 3, {PlaneSpec{20, 20, B}, PlaneSpec{13, 13, F}, PlaneSpec{31, 40, B}}, true, B);
  add(5, 19, 1, {PlaneSpec{48, 64, F}}, true, B);
  add(40, 9, 3, {PlaneSpec{17, 17, B}}, false, F);
  add(33, 3, 3, {PlaneSpec{5, 7, F}}, true, F);
  add(1, 1, 3, {PlaneSpec{3, 3, B}}, true, B);
  add(1, 30, 3, {PlaneSpec{16, 16, F}}, false, F);
  add(30, 1, 3, {PlaneSpec{16, 16, B}}, false, B);
  return v;
}

// The path each level takes: depthwise at every one (avx512_bf16 runs the AVX-512 kernel).
std::string want_path(Isa isa) {
  if (isa == Isa::Generic) return "generic/depthwise";
  if (isa == Isa::Avx2) return "avx2/depthwise";
  return "avx512/depthwise";
}

void test_levels() {
  std::mt19937 rng(2024);
  std::vector<Case> cases = fixed_cases();
  const size_t fixed = cases.size();
  for (int i = 0; i < 150; ++i) cases.push_back(random_case(rng));
  const Isa cpu = falsr::core::cpu_isa();
  for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512, Isa::Avx512Bf16}) {
    if (static_cast<int>(isa) > static_cast<int>(cpu)) {
      std::printf("skipping %s: this CPU lacks it\n", falsr::core::isa_name(isa));
      continue;
    }
    setenv("FALSR_CPU_ISA", falsr::core::isa_name(isa), 1);
    int passed = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
      Problem p = make_problem(cases[i], rng);
      const bool ok = run_and_compare(p, want_path(isa), 1e-5);
      CHECK(ok);
      if (!ok) {
        std::fprintf(stderr, "  [%s] %s case: %s\n", falsr::core::isa_name(isa),
                     i < fixed ? "fixed" : "random", describe(cases[i]).c_str());
      }
      passed += ok;
    }
    std::printf("%s: %d of %zu cases match the naive reference\n", want_path(isa).c_str(),
                passed, cases.size());
  }
  unsetenv("FALSR_CPU_ISA");
}

// The factory declines what is not depthwise; ConvAlgo::Direct keeps the direct path.
void test_declines() {
  std::vector<float> in(4 * 5 * 16, 0.5f), w(16 * 16 * 9, 0.25f), out(4 * 5 * 32);
  auto args = [&](int64_t cin, int64_t cout, int64_t groups, int64_t k) {
    CellConvArgs a;
    a.batch = 1;
    a.height = 4;
    a.width = 5;
    a.inputs = {Plane{in.data(), DType::F32, cin, cin}};
    a.weight = w.data();
    a.out_channels = cout;
    a.kernel = k;
    a.groups = groups;
    a.out = MutPlane{out.data(), DType::F32, cout, cout};
    return a;
  };
  using falsr::core::make_depthwise_cell_conv_plan;
  CHECK(make_depthwise_cell_conv_plan(args(16, 16, 16, 3), Isa::Generic) != nullptr);
  CHECK(make_depthwise_cell_conv_plan(args(16, 16, 16, 1), Isa::Generic) != nullptr);
  CHECK(make_depthwise_cell_conv_plan(args(16, 32, 16, 3), Isa::Avx512) == nullptr);  // multiplier 2
  CHECK(make_depthwise_cell_conv_plan(args(16, 16, 8, 3), Isa::Avx512) == nullptr);
  CHECK(make_depthwise_cell_conv_plan(args(16, 16, 1, 3), Isa::Avx512) == nullptr);
  CellConvArgs a = args(16, 16, 16, 3);
  unsetenv("FALSR_CPU_ISA");
  CHECK(falsr::core::make_cell_conv_plan(a)->path().find("/depthwise") != std::string::npos);
  a.algo = falsr::core::ConvAlgo::Direct;
  CHECK(falsr::core::make_cell_conv_plan(a)->path().find("/direct") != std::string::npos);
}

// An fp32 output of 16 MiB and more in 64-byte aligned buffers: stored with non-temporal
// stores (AVX2 / AVX-512), which must still give the same values.
void test_streamed_output() {
  const int64_t h = 64, w = 1030, c = 64, pixels = h * w;
  std::mt19937 rng(5);
  auto aligned = [](std::vector<float>& v, size_t n) {
    v.assign(n + 16, 0.0f);
    const auto addr = reinterpret_cast<uintptr_t>(v.data());
    return v.data() + ((64 - addr % 64) % 64) / sizeof(float);
  };
  std::vector<float> in_store, out_store, ref_store;
  float* in = aligned(in_store, static_cast<size_t>(pixels * c));
  float* out = aligned(out_store, static_cast<size_t>(pixels * c));
  float* ref = aligned(ref_store, static_cast<size_t>(pixels * c));
  for (int64_t i = 0; i < pixels * c; ++i) in[i] = random_value(rng);
  std::vector<float> weight(static_cast<size_t>(c * 9)), bias(static_cast<size_t>(c));
  for (float& x : weight) x = random_value(rng);
  for (float& x : bias) x = random_value(rng);
  CellConvArgs a;
  a.batch = 1;
  a.height = h;
  a.width = w;
  a.inputs = {Plane{in, DType::F32, c, c}};
  a.weight = weight.data();
  a.bias = bias.data();
  a.out_channels = c;
  a.kernel = 3;
  a.groups = c;
  a.relu = true;
  a.out = MutPlane{ref, DType::F32, c, c};
  falsr::core::cell_conv_naive(a);
  a.out.data = out;
  for (const char* level : {"avx2", "avx512"}) {
    if (static_cast<int>(falsr::core::cpu_isa()) < static_cast<int>(std::string(level) == "avx2" ? Isa::Avx2 : Isa::Avx512)) continue;
    setenv("FALSR_CPU_ISA", level, 1);
    std::fill(out, out + pixels * c, -1.0f);
    auto plan = falsr::core::make_cell_conv_plan(a);
    plan->run_tasks(a, 0, plan->num_tasks());
    double worst = 0;
    for (int64_t i = 0; i < pixels * c; ++i) {
      worst = std::max(worst, static_cast<double>(std::fabs(out[i] - ref[i])) / (1.0 + std::fabs(ref[i])));
    }
    CHECK(plan->path() == std::string(level) + "/depthwise");
    CHECK(worst < 1e-5);
    std::printf("streamed fp32 output [%s]: worst relative error %.2g\n", level, worst);
  }
  unsetenv("FALSR_CPU_ISA");
}

}  // namespace

int main() {
  unsetenv("FALSR_CPU_ISA");
  test_levels();
  test_streamed_output();
  test_declines();
  return falsr::test::report("test_cell_conv_depthwise");
}
