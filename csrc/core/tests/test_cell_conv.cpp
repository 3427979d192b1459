// C++ tests of csrc/core/cell_conv (no torch): every code path of the direct convolution
// (FALSR_CPU_ISA = generic, avx2, avx512, as far as this CPU goes) against the double-
// accumulating cell_conv_naive, on random shapes: k 1/3, groups 1/2/4/depthwise, 1-3
// input planes with odd channel counts and pixel strides, fp32 and bf16 planes, widths
// 1..49 (tile tails), ReLU, bias, residual; task-range splitting; the front door (Auto)
// at the best ISA; and every argument error.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cell_conv.h"
#include "core/tests/check.h"

namespace {

using falsr::core::bf16_to_float;
using falsr::core::CellConvArgs;
using falsr::core::ConvAlgo;
using falsr::core::DType;
using falsr::core::float_to_bf16;
using falsr::core::Isa;
using falsr::core::MutPlane;
using falsr::core::Plane;

struct PlaneSpec {
  int64_t channels = 1, stride = 1;
  DType dtype = DType::F32;
};

struct Case {
  int64_t n = 1, h = 1, w = 1, k = 3, groups = 1, cout = 1;
  std::vector<PlaneSpec> inputs;
  bool relu = false, bias = false, residual = false;
  PlaneSpec res, out;
  ConvAlgo algo = ConvAlgo::Direct;
};

// Raw storage of one plane, fp32 or bf16 bits, padding filled with a sentinel.
struct Buffer {
  std::vector<float> f;
  std::vector<uint16_t> b;
  DType dtype = DType::F32;
  void* data() { return dtype == DType::F32 ? static_cast<void*>(f.data()) : b.data(); }
  float get(size_t i) const { return dtype == DType::F32 ? f[i] : bf16_to_float(b[i]); }
};

Buffer random_buffer(int64_t pixels, const PlaneSpec& s, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(0.1f, 1.0f);
  std::bernoulli_distribution sign(0.5);
  Buffer buf;
  buf.dtype = s.dtype;
  const size_t size = static_cast<size_t>(pixels * s.stride);
  std::vector<float> v(size);
  for (size_t i = 0; i < size; ++i) {
    const bool pad = static_cast<int64_t>(i % static_cast<size_t>(s.stride)) >= s.channels;
    v[i] = pad ? 777.0f : (sign(rng) ? -u(rng) : u(rng));
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

struct Problem {
  Case c;
  std::vector<Buffer> inputs;
  Buffer residual;
  std::vector<float> weight, bias;
  int64_t cin = 0;

  int64_t pixels() const { return c.n * c.h * c.w; }

  CellConvArgs args(std::vector<Buffer>& in, Buffer* res, const std::vector<float>& w,
                    const std::vector<float>& b, Buffer& out) const {
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
    a.relu = c.relu;
    a.has_residual = c.residual;
    if (c.residual) a.residual = Plane{res->data(), c.res.dtype, c.cout, c.res.stride};
    a.out = MutPlane{out.data(), c.out.dtype, c.cout, c.out.stride};
    a.algo = c.algo;
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
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  p.weight.resize(static_cast<size_t>(c.cout * (p.cin / c.groups) * c.k * c.k));
  for (float& x : p.weight) x = u(rng);
  p.bias.resize(static_cast<size_t>(c.cout));
  for (float& x : p.bias) x = u(rng);
  return p;
}

Buffer empty_out(const Problem& p) {
  Buffer o;
  o.dtype = p.c.out.dtype;
  const size_t size = static_cast<size_t>(p.pixels() * p.c.out.stride);
  if (o.dtype == DType::F32) {
    o.f.assign(size, -555.0f);
  } else {
    o.b.assign(size, float_to_bf16(-555.0f));
  }
  return o;
}

// Runs the plan (tasks split in two ranges) and compares with the naive reference; the
// error bound scales with the sum of |terms| (naive on |inputs|, |weights|, |bias|, |res|).
bool run_and_compare(Problem& p, const char* isa_name, const std::string& want_path,
                     std::string* got_path) {
  Buffer out = empty_out(p), ref = empty_out(p);
  const Buffer empty = empty_out(p);
  Buffer* res = p.c.residual ? &p.residual : nullptr;
  CellConvArgs a = p.args(p.inputs, res, p.weight, p.bias, out);
  std::unique_ptr<falsr::core::CellConvPlan> plan = falsr::core::make_cell_conv_plan(a);
  *got_path = plan->path();
  if (!want_path.empty() && plan->path() != want_path) {
    std::fprintf(stderr, "[%s] path %s, expected %s\n", isa_name, plan->path().c_str(),
                 want_path.c_str());
    return false;
  }
  const int64_t tasks = plan->num_tasks();
  plan->run_tasks(a, 0, tasks / 2);
  plan->run_tasks(a, tasks / 2, tasks);

  CellConvArgs ra = p.args(p.inputs, res, p.weight, p.bias, ref);
  falsr::core::cell_conv_naive(ra);

  std::vector<Buffer> abs_in;
  for (const Buffer& b : p.inputs) abs_in.push_back(abs_of(b));
  Buffer abs_res = p.c.residual ? abs_of(p.residual) : Buffer{};
  std::vector<float> abs_w = p.weight, abs_b = p.bias;
  for (float& x : abs_w) x = std::fabs(x);
  for (float& x : abs_b) x = std::fabs(x);
  Case sc = p.c;
  sc.out.dtype = DType::F32;
  Problem sp = p;
  sp.c = sc;
  sp.c.relu = false;
  Buffer scale = empty_out(sp);
  CellConvArgs sa = sp.args(abs_in, p.c.residual ? &abs_res : nullptr, abs_w, abs_b, scale);
  falsr::core::cell_conv_naive(sa);

  const double tol = p.c.out.dtype == DType::BF16 ? 1e-2 : 1e-5;
  bool ok = true;
  int reported = 0;
  for (int64_t pix = 0; pix < p.pixels(); ++pix) {
    for (int64_t ch = 0; ch < p.c.out.stride; ++ch) {
      const size_t i = static_cast<size_t>(pix * p.c.out.stride + ch);
      const float got = out.get(i), want = ref.get(i);
      bool bad;
      if (ch >= p.c.cout) {
        bad = got != empty.get(i);  // padding of a strided output stays untouched
      } else {
        bad = !(std::fabs(static_cast<double>(got) - want) <= tol * scale.f[i] + 1e-30);
      }
      if (bad) {
        ok = false;
        if (reported++ < 3) {
          std::fprintf(stderr, "[%s %s] pixel %lld ch %lld: got %g want %g (scale %g)\n", isa_name,
                       plan->path().c_str(), static_cast<long long>(pix),
                       static_cast<long long>(ch), got, want, scale.f[i]);
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
    s += std::to_string(p.channels) + "/" + std::to_string(p.stride) +
         (p.dtype == DType::BF16 ? "bf16 " : "f32 ");
  }
  s += "] relu" + std::to_string(c.relu) + " bias" + std::to_string(c.bias) + " res" +
       std::to_string(c.residual) + (c.residual && c.res.dtype == DType::BF16 ? "bf16" : "") +
       " out" + (c.out.dtype == DType::BF16 ? "bf16" : "f32") + "/" + std::to_string(c.out.stride);
  return s;
}

DType random_dtype(std::mt19937& rng) {
  return std::bernoulli_distribution(0.3)(rng) ? DType::BF16 : DType::F32;
}

Case random_case(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Case c;
  c.n = pick(1, 2);
  c.h = pick(1, 9);
  const int widths[] = {1, 2, 3, 5, 6, 7, 12, 13, 17, 24, 33, 49};
  c.w = widths[pick(0, 11)];
  c.k = pick(0, 2) == 0 ? 1 : 3;
  const int kind = pick(0, 5);  // 0-2 dense, 3 g2, 4 g4, 5 depthwise
  int64_t cin;
  if (kind == 5) {
    c.groups = pick(1, 40);
    cin = c.groups;
    c.cout = c.groups;
  } else {
    c.groups = kind == 3 ? 2 : kind == 4 ? 4 : 1;
    const int64_t cin_g = pick(1, 40 / static_cast<int>(c.groups) + 3);
    const int64_t cout_g = pick(1, 80 / static_cast<int>(c.groups) + 3);
    cin = cin_g * c.groups;
    c.cout = cout_g * c.groups;
  }
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
  c.relu = pick(0, 1) == 1;
  c.bias = pick(0, 1) == 1;
  c.residual = pick(0, 1) == 1;
  c.res = PlaneSpec{c.cout, c.cout + (pick(0, 2) == 0 ? 3 : 0), random_dtype(rng)};
  c.out = PlaneSpec{c.cout, c.cout + (pick(0, 2) == 0 ? 2 : 0), random_dtype(rng)};
  return c;
}

PlaneSpec f32(int64_t ch) { return PlaneSpec{ch, ch, DType::F32}; }

// FALSR-like shapes and the tile edge cases (full 6x64 tiles, every tail).
std::vector<Case> fixed_cases() {
  std::vector<Case> v;
  auto add = [&](int64_t h, int64_t w, int64_t k, int64_t groups, int64_t cout,
                 std::vector<PlaneSpec> in, bool relu, bool res) {
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
    c.res = f32(cout);
    c.out = f32(cout);
    v.push_back(c);
  };
  add(3, 50, 3, 1, 64, {f32(64)}, true, false);                        // the bulk of FALSR-A
  add(2, 19, 3, 1, 64, {f32(64), f32(64), f32(64), f32(64)}, true, true);  // 4 concat inputs
  add(2, 23, 1, 1, 64, {f32(64)}, false, true);
  add(2, 21, 1, 1, 32, {f32(464)}, true, false);
  add(3, 20, 1, 1, 32, {f32(64), f32(128), f32(272)}, true, false);
  add(4, 18, 3, 192, 192, {f32(192)}, true, false);  // depthwise
  add(3, 17, 3, 4, 16, {f32(16)}, true, true);       // g4 16 -> 16 (spread)
  add(3, 17, 3, 2, 64, {f32(64)}, true, true);       // g2 64 -> 64
  add(3, 17, 3, 4, 64, {f32(64)}, false, false);     // g4 64 -> 64
  add(3, 19, 3, 4, 32, {f32(32)}, true, true);       // g4 32 -> 32
  add(3, 19, 1, 2, 16, {f32(16)}, true, false);      // g2 16 -> 16 1x1
  add(2, 13, 3, 8, 24, {f32(3), f32(13)}, true, true);  // g8 16 -> 24
  add(2, 13, 3, 4, 8, {f32(16)}, false, true);       // g4 16 -> 8
  // Spread (vectors across output channels, inputs permuted into place):
  add(3, 21, 3, 4, 12, {f32(5), f32(7)}, true, true);  // g4 12 -> 12 (avx512 only)
  add(3, 21, 3, 4, 8, {f32(4)}, false, false);          // g4 4 -> 8, channel multiplier 2
  add(2, 15, 1, 4, 16, {f32(16)}, true, true);          // g4 16 -> 16 1x1
  add(2, 31, 3, 1, 80, {f32(7)}, true, false);       // 5 blocks of 16: 4 + 1
  add(2, 31, 3, 1, 48, {f32(3)}, false, true);       // 3 blocks
  add(2, 29, 3, 1, 20, {f32(33)}, true, false);      // masked tail
  add(5, 7, 3, 1, 1, {f32(1)}, false, false);
  // Tall images: tasks of several rows, so the ring of gathered rows slides.
  add(40, 9, 3, 1, 20, {f32(7), PlaneSpec{5, 6, DType::BF16}}, true, true);
  add(37, 11, 3, 24, 24, {f32(24)}, true, false);     // depthwise
  add(35, 10, 3, 4, 16, {f32(16)}, false, true);      // spread
  add(34, 5, 1, 1, 17, {PlaneSpec{9, 9, DType::BF16}}, true, false);
  return v;
}

void test_paths() {
  std::mt19937 rng(1234);
  const Isa cpu = falsr::core::cpu_isa();
  std::vector<Case> fixed = fixed_cases();
  std::vector<Case> random_cases;
  for (int i = 0; i < 160; ++i) random_cases.push_back(random_case(rng));
  for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512}) {
    if (static_cast<int>(isa) > static_cast<int>(cpu)) {
      std::printf("skipping %s: this CPU lacks it\n", falsr::core::isa_name(isa));
      continue;
    }
    setenv("FALSR_CPU_ISA", falsr::core::isa_name(isa), 1);
    const std::string want = std::string(falsr::core::isa_name(isa)) + "/direct";
    int passed = 0;
    for (const std::vector<Case>* set : {&fixed, &random_cases}) {
      for (const Case& c : *set) {
        Problem p = make_problem(c, rng);
        std::string path;
        const bool ok = run_and_compare(p, falsr::core::isa_name(isa), want, &path);
        CHECK(ok);
        if (!ok) std::fprintf(stderr, "  case: %s\n", describe(c).c_str());
        passed += ok;
      }
    }
    std::printf("%s: %d of %zu cases match the naive reference\n", want.c_str(), passed,
                fixed.size() + random_cases.size());
  }
  // The front door with algo Auto at the best ISA: whichever path it picks must agree.
  unsetenv("FALSR_CPU_ISA");
  for (Case c : fixed) {
    c.algo = ConvAlgo::Auto;
    for (DType dt : {DType::F32, DType::BF16}) {
      for (PlaneSpec& s : c.inputs) s.dtype = dt;
      c.out.dtype = dt;
      Problem p = make_problem(c, rng);
      std::string path;
      const bool ok = run_and_compare(p, "best", "", &path);
      CHECK(ok);
      if (!ok) std::fprintf(stderr, "  auto case (%s): %s\n", path.c_str(), describe(c).c_str());
    }
  }
}

void test_errors() {
  std::vector<float> in(2 * 4 * 5 * 8, 0.5f), res(2 * 4 * 5 * 6, 0.5f), out(2 * 4 * 5 * 6);
  std::vector<float> w(6 * 8 * 9, 0.1f);
  auto good = [&] {
    CellConvArgs a;
    a.batch = 2;
    a.height = 4;
    a.width = 5;
    a.inputs = {Plane{in.data(), DType::F32, 8, 8}};
    a.weight = w.data();
    a.out_channels = 6;
    a.kernel = 3;
    a.groups = 1;
    a.has_residual = true;
    a.residual = Plane{res.data(), DType::F32, 6, 6};
    a.out = MutPlane{out.data(), DType::F32, 6, 6};
    return a;
  };
  CHECK(falsr::core::make_cell_conv_plan(good()) != nullptr);
  CellConvArgs a;
  a = good(); a.batch = 0;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "batch");
  a = good(); a.height = 0;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "height");
  a = good(); a.width = -1;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "width");
  a = good(); a.inputs.clear();
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "inputs");
  a = good(); a.inputs[0].channels = 0;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "inputs[0].channels");
  a = good(); a.inputs[0].pixel_stride = 7;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "inputs[0].pixel_stride");
  a = good(); a.inputs.push_back(Plane{nullptr, DType::F32, 2, 2});
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "inputs[1].data");
  a = good(); a.inputs[0].dtype = static_cast<DType>(7);
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "inputs[0].dtype");
  a = good(); a.weight = nullptr;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "weight");
  a = good(); a.kernel = 5;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "kernel");
  a = good(); a.kernel = 2;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "kernel");
  a = good(); a.groups = 0;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "groups");
  a = good(); a.groups = 3;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "input channels");
  a = good(); a.groups = 4;  // divides Cin = 8, not Cout = 6
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "out_channels");
  a = good(); a.out_channels = 0;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "out_channels");
  a = good(); a.out.channels = 5;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "out.channels");
  a = good(); a.out.data = nullptr;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "out.data");
  a = good(); a.out.pixel_stride = 3;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "out.pixel_stride");
  a = good(); a.residual.channels = 4;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "residual.channels");
  a = good(); a.residual.data = nullptr;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "residual.data");
  a = good(); a.has_residual = false; a.residual = Plane{};  // unused residual: fine
  CHECK(falsr::core::make_cell_conv_plan(a) != nullptr);
  a = good(); a.batch = int64_t{1} << 40; a.height = int64_t{1} << 30;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "overflows");
  a = good(); a.algo = static_cast<ConvAlgo>(9);
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "algo");
  // Overlaps: out on an input, out on the residual, out shifted into an input.
  a = good(); a.out.data = in.data();
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "inputs[0]");
  a = good(); a.out.data = res.data() + 3;
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "residual");
  a = good(); a.out = MutPlane{in.data() + 8 * 39, DType::F32, 6, 6};  // shares in's last pixel
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "overlap");
  // Channel slices of one NHWC buffer interleave without sharing an element: allowed.
  std::vector<float> wide(2 * 4 * 5 * 14, 0.25f);
  a = good();
  a.inputs = {Plane{wide.data(), DType::F32, 8, 14}};
  a.out = MutPlane{wide.data() + 8, DType::F32, 6, 14};
  CHECK(falsr::core::make_cell_conv_plan(a) != nullptr);
  a.out = MutPlane{wide.data() + 7, DType::F32, 6, 14};  // channel 7 is in both
  CHECK_THROWS(falsr::core::make_cell_conv_plan(a), "overlap");
  // The naive reference checks too.
  a = good(); a.kernel = 4;
  CHECK_THROWS(falsr::core::cell_conv_naive(a), "kernel");
  setenv("FALSR_CPU_ISA", "sse9", 1);
  CHECK_THROWS(falsr::core::make_cell_conv_plan(good()), "FALSR_CPU_ISA");
  unsetenv("FALSR_CPU_ISA");
}

}  // namespace

int main() {
  test_errors();
  test_paths();
  return falsr::test::report("test_cell_conv");
}
