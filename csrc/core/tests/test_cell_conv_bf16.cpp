// C++ tests of the avx512_bf16 cell_conv path (cell_conv_bf16*.cpp) against the double-
// accumulating cell_conv_naive on the same bf16 values: random shapes (1-3 bf16 planes
// with odd channel counts and pixel strides, widths 1..40, heights 1..9 and taller,
// k 1/3, cout 1..100, ReLU, bias, fp32 / bf16 residual and output), FALSR-like shapes
// (several weight passes, concat inputs, 1x1 read in place), small groups, task-range
// splitting, and the cases where the factory must decline. Skips (exit 0) on a CPU
// without avx512_bf16.
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

const char* const kPath = "avx512_bf16/direct";

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
  std::vector<float> weight, bias;  // weights bf16-exact, as the engine passes them
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
    a.algo = falsr::core::ConvAlgo::Direct;
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
  for (float& x : p.weight) x = bf16_to_float(float_to_bf16(random_value(rng)));
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
// output); the bound scales with the sum of |terms| (naive on |inputs|, |weights|,
// |bias|, |residual|), plus half a bf16 ulp for a bf16 output.
bool run_and_compare(Problem& p) {
  const PlaneSpec ref_spec{p.c.cout, p.c.out.stride, DType::F32};
  Buffer out = empty_out(p.pixels(), p.c.out), ref = empty_out(p.pixels(), ref_spec);
  const Buffer empty = empty_out(p.pixels(), p.c.out);
  Buffer* res = p.c.residual ? &p.residual : nullptr;
  CellConvArgs a = p.args(p.inputs, res, p.weight, p.bias, out, p.c.relu);
  std::unique_ptr<falsr::core::CellConvPlan> plan = falsr::core::make_cell_conv_plan(a);
  if (plan->path() != kPath) {
    std::fprintf(stderr, "path %s, expected %s\n", plan->path().c_str(), kPath);
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
        double tol = 1e-5 * scale.f[i] + 1e-30;
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

DType random_out_dtype(std::mt19937& rng) {
  return std::bernoulli_distribution(0.5)(rng) ? DType::BF16 : DType::F32;
}

Case random_case(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Case c;
  c.n = pick(1, 2);
  c.h = pick(1, 9);
  c.w = pick(1, 40);
  c.k = pick(0, 2) == 0 ? 1 : 3;
  c.cout = pick(1, 100);
  const int64_t cin = pick(1, 70);
  const int planes = static_cast<int>(std::min<int64_t>(cin, pick(1, 3)));
  int64_t left = cin;
  const bool even = pick(0, 3) == 0;  // all planes even: a 1x1 conv reads them in place
  for (int i = 0; i < planes; ++i) {
    PlaneSpec s;
    s.channels = i + 1 == planes ? left : pick(1, static_cast<int>(left - (planes - 1 - i)));
    left -= s.channels;
    if (even) s.channels += s.channels % 2;
    s.stride = s.channels + (pick(0, 2) == 0 ? pick(1, 5) : 0);
    c.inputs.push_back(s);
  }
  c.relu = pick(0, 1) == 1;
  c.bias = pick(0, 1) == 1;
  c.residual = pick(0, 1) == 1;
  c.res = PlaneSpec{c.cout, c.cout + (pick(0, 2) == 0 ? 3 : 0), random_out_dtype(rng)};
  c.out = PlaneSpec{c.cout, c.cout + (pick(0, 2) == 0 ? 2 : 0), random_out_dtype(rng)};
  return c;
}

PlaneSpec bf(int64_t ch, int64_t stride = 0) {
  return PlaneSpec{ch, stride == 0 ? ch : stride, DType::BF16};
}

// FALSR-like shapes (widths past one tile, so weights run in several passes), 1x1 read in
// place with odd strides, small groups taken as block-diagonal dense, tall images.
std::vector<Case> fixed_cases() {
  std::vector<Case> v;
  auto add = [&](int64_t h, int64_t w, int64_t k, int64_t groups, int64_t cout,
                 std::vector<PlaneSpec> in, bool relu, bool res, DType out) {
    Case c;
    c.h = h;
    c.w = w;
    c.k = k;
    c.groups = groups;
    c.cout = cout;
    c.inputs = std::move(in);
    c.relu = relu;
    c.bias = true;
    c.residual = res;
    c.res = PlaneSpec{cout, cout, DType::BF16};
    c.out = PlaneSpec{cout, cout, out};
    v.push_back(c);
  };
  const DType F = DType::F32, B = DType::BF16;
  add(3, 50, 3, 1, 64, {bf(64)}, true, false, F);                    // 3 passes of 96 pairs
  add(3, 50, 3, 1, 64, {bf(64)}, true, true, B);
  add(2, 19, 3, 1, 64, {bf(64), bf(64), bf(64), bf(64)}, true, true, B);  // 4 concat inputs
  add(2, 23, 1, 1, 64, {bf(64)}, false, true, F);                   // 1x1 in place
  add(2, 21, 1, 1, 32, {bf(464)}, true, false, B);                   // 1x1 464 -> 32, passes
  add(2, 13, 3, 1, 32, {bf(464)}, true, false, F);                   // 3x3 464 -> 32
  add(3, 20, 1, 1, 32, {bf(64, 67), bf(128, 131), bf(272)}, true, false, F);  // odd strides
  add(3, 20, 1, 1, 33, {bf(63, 64), bf(129)}, true, true, B);        // odd planes: gathered
  add(3, 17, 3, 4, 16, {bf(16)}, true, true, F);                     // g4 16 -> 16
  add(3, 19, 1, 2, 16, {bf(16)}, true, false, B);                    // g2 16 -> 16 1x1
  add(2, 13, 3, 8, 16, {bf(3), bf(13)}, true, true, F);              // g8 16 -> 16
  add(2, 31, 3, 1, 80, {bf(7)}, true, false, F);                     // blocks 4 + 1
  add(2, 31, 3, 1, 48, {bf(3)}, false, true, B);                     // 3 blocks
  add(2, 29, 3, 1, 20, {bf(33)}, true, false, F);                    // masked tail
  add(5, 7, 3, 1, 1, {bf(1)}, false, false, B);
  add(40, 9, 3, 1, 20, {bf(7), bf(5, 6)}, true, true, F);            // the ring slides
  add(34, 5, 1, 1, 17, {bf(9)}, true, false, B);
  return v;
}

void test_cases() {
  std::mt19937 rng(4321);
  std::vector<Case> cases = fixed_cases();
  const size_t fixed = cases.size();
  for (int i = 0; i < 200; ++i) cases.push_back(random_case(rng));
  int passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    Problem p = make_problem(cases[i], rng);
    const bool ok = run_and_compare(p);
    CHECK(ok);
    if (!ok) {
      std::fprintf(stderr, "  %s case: %s\n", i < fixed ? "fixed" : "random",
                   describe(cases[i]).c_str());
    }
    passed += ok;
  }
  std::printf("%s: %d of %zu cases match the naive reference\n", kPath, passed, cases.size());
}

// The factory declines what it does not run: fp32 or mixed inputs, groups whose block-
// diagonal packing would multiply more lanes, kernels other than 1 / 3, ISA below
// avx512_bf16 (by argument and through FALSR_CPU_ISA at the front door).
void test_declines() {
  std::vector<float> fin(4 * 5 * 64, 0.5f), w(64 * 64 * 9, 0.25f), out(4 * 5 * 64);
  std::vector<uint16_t> bin(4 * 5 * 64, float_to_bf16(0.5f));
  auto args = [&](int64_t cin, int64_t cout, int64_t groups) {
    CellConvArgs a;
    a.batch = 1;
    a.height = 4;
    a.width = 5;
    a.inputs = {Plane{bin.data(), DType::BF16, cin, cin}};
    a.weight = w.data();
    a.out_channels = cout;
    a.kernel = 3;
    a.groups = groups;
    a.out = MutPlane{out.data(), DType::F32, cout, cout};
    return a;
  };
  using falsr::core::make_bf16_cell_conv_plan;
  CHECK(make_bf16_cell_conv_plan(args(8, 8, 1), Isa::Avx512Bf16) != nullptr);
  CHECK(make_bf16_cell_conv_plan(args(8, 8, 1), Isa::Avx512) == nullptr);
  CellConvArgs a = args(8, 8, 1);
  a.inputs[0] = Plane{fin.data(), DType::F32, 8, 8};
  CHECK(make_bf16_cell_conv_plan(a, Isa::Avx512Bf16) == nullptr);
  a = args(8, 8, 1);
  a.inputs = {Plane{bin.data(), DType::BF16, 4, 8}, Plane{fin.data() + 4, DType::F32, 4, 8}};
  CHECK(make_bf16_cell_conv_plan(a, Isa::Avx512Bf16) == nullptr);
  a = args(8, 8, 1);
  a.kernel = 5;
  CHECK(make_bf16_cell_conv_plan(a, Isa::Avx512Bf16) == nullptr);
  CHECK(make_bf16_cell_conv_plan(args(64, 64, 2), Isa::Avx512Bf16) == nullptr);   // 32 / group
  CHECK(make_bf16_cell_conv_plan(args(32, 32, 32), Isa::Avx512Bf16) == nullptr);  // depthwise
  CHECK(make_bf16_cell_conv_plan(args(16, 16, 4), Isa::Avx512Bf16) != nullptr);

  // The front door: best ISA takes this path; FALSR_CPU_ISA=avx512 caps it off.
  unsetenv("FALSR_CPU_ISA");
  CHECK(falsr::core::make_cell_conv_plan(args(8, 8, 1))->path() == kPath);
  a = args(8, 8, 1);
  a.inputs[0] = Plane{fin.data(), DType::F32, 8, 8};
  CHECK(falsr::core::make_cell_conv_plan(a)->path() != kPath);
  setenv("FALSR_CPU_ISA", "avx512", 1);
  CHECK(falsr::core::make_cell_conv_plan(args(8, 8, 1))->path() == "avx512/direct");
  setenv("FALSR_CPU_ISA", "avx512_bf16", 1);
  CHECK(falsr::core::make_cell_conv_plan(args(8, 8, 1))->path() == kPath);
  unsetenv("FALSR_CPU_ISA");
}

}  // namespace

int main() {
  if (static_cast<int>(falsr::core::cpu_isa()) < static_cast<int>(Isa::Avx512Bf16)) {
    std::printf("test_cell_conv_bf16: skipped, this CPU lacks avx512_bf16 (has %s)\n",
                falsr::core::isa_name(falsr::core::cpu_isa()));
    return 0;
  }
  unsetenv("FALSR_CPU_ISA");
  test_cases();
  test_declines();
  return falsr::test::report("test_cell_conv_bf16");
}
