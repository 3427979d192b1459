// Shared fixtures of the cell_conv path tests: random planes of fp32 / bf16 with channel
// slices (optionally 64-byte aligned), one problem per Case, the comparison of a path's
// result with the double-accumulating cell_conv_naive, and the loop over FALSR_CPU_ISA.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cell_conv.h"
#include "core/tests/check.h"

namespace falsr::core::test_cases {

using falsr::core::bf16_to_float;
using falsr::core::CellConvArgs;
using falsr::core::CellConvPlan;
using falsr::core::ConvAlgo;
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
  ConvAlgo algo = ConvAlgo::Auto;
  bool align64 = false;  // every plane on a 64-byte line (the streaming-store epilogues)
};

// Raw storage of one plane, fp32 or bf16 bits, padding filled with a sentinel; `offset`
// elements skipped to align data() (indices passed to get() are relative to data()).
struct Buffer {
  std::vector<float> f;
  std::vector<uint16_t> b;
  DType dtype = DType::F32;
  size_t offset = 0;
  void* data() {
    return dtype == DType::F32 ? static_cast<void*>(f.data() + offset) : b.data() + offset;
  }
  float get(size_t i) const {
    return dtype == DType::F32 ? f[offset + i] : bf16_to_float(b[offset + i]);
  }
};

// `size` elements of `fill`, data() 64-byte aligned when `align64`.
inline Buffer filled(size_t size, DType dtype, float fill, bool align64) {
  Buffer o;
  o.dtype = dtype;
  const size_t extra = align64 ? 32 : 0, bytes = dtype == DType::F32 ? 4 : 2;
  if (dtype == DType::F32) {
    o.f.assign(size + extra, fill);
  } else {
    o.b.assign(size + extra, float_to_bf16(fill));
  }
  if (align64) {
    const auto addr = reinterpret_cast<uintptr_t>(o.data());
    o.offset = (64 - addr % 64) % 64 / bytes;
  }
  return o;
}

inline float random_value(std::mt19937& rng) {
  const float v = std::uniform_real_distribution<float>(0.1f, 1.0f)(rng);
  return std::bernoulli_distribution(0.5)(rng) ? -v : v;
}

inline Buffer random_buffer(int64_t pixels, const PlaneSpec& s, std::mt19937& rng,
                            bool align64 = false) {
  const size_t size = static_cast<size_t>(pixels * s.stride);
  Buffer buf = filled(size, s.dtype, 777.0f, align64);
  for (size_t i = 0; i < size; ++i) {
    if (static_cast<int64_t>(i % static_cast<size_t>(s.stride)) >= s.channels) continue;
    const float v = random_value(rng);
    if (s.dtype == DType::F32) {
      buf.f[buf.offset + i] = v;
    } else {
      buf.b[buf.offset + i] = float_to_bf16(v);
    }
  }
  return buf;
}

inline Buffer abs_of(const Buffer& in) {
  Buffer o = in;
  for (float& x : o.f) x = std::fabs(x);
  for (uint16_t& x : o.b) x = static_cast<uint16_t>(x & 0x7fffu);
  return o;
}

inline Buffer empty_out(int64_t pixels, const PlaneSpec& s, bool align64 = false) {
  return filled(static_cast<size_t>(pixels * s.stride), s.dtype, -555.0f, align64);
}

struct Problem {
  Case c;
  std::vector<Buffer> inputs;
  Buffer residual;
  std::vector<float> weight, bias;
  int64_t cin = 0;
  // The naive result and sum |terms| (fp32), made by the first run_and_compare: change
  // no input, weight or bias after it.
  Buffer want, scale;

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
    a.algo = c.algo;
    return a;
  }
};

inline Problem make_problem(const Case& c, std::mt19937& rng) {
  Problem p;
  p.c = c;
  for (const PlaneSpec& s : c.inputs) {
    p.inputs.push_back(random_buffer(p.pixels(), s, rng, c.align64));
    p.cin += s.channels;
  }
  if (c.residual) p.residual = random_buffer(p.pixels(), c.res, rng, c.align64);
  p.weight.resize(static_cast<size_t>(c.cout * (p.cin / c.groups) * c.k * c.k));
  for (float& x : p.weight) x = random_value(rng);
  p.bias.resize(static_cast<size_t>(c.cout));
  for (float& x : p.bias) x = random_value(rng);
  return p;
}

// Half a bf16 ulp at |x| (8 significant bits).
inline double half_bf16_ulp(double x) {
  int e = 0;
  std::frexp(x, &e);  // x = m * 2^e, 0.5 <= |m| < 1
  return std::ldexp(1.0, e - 9);
}

// How run_and_compare makes and runs the plan, and what it hands back.
struct RunOptions {
  // The factory under test (one path at a fixed Isa, say); else make_cell_conv_plan.
  std::function<std::unique_ptr<CellConvPlan>(const CellConvArgs&)> make;
  std::mt19937* cuts = nullptr;  // tasks in 4 random ranges, last first; else two halves
  bool out_ulp = true;           // a bf16 output's bound gets half a bf16 ulp more
  double* worst = nullptr;       // raised to the largest |got - want| / scale (fp32 out)
};

// Runs the plan and compares with the naive reference; the bound is `rel` times the sum
// of |terms| (naive on |inputs|, |weights|, |bias|, |residual|), plus half a bf16 ulp for
// a bf16 output (out_ulp); a strided output's padding must stay untouched. CHECKs that a
// given factory makes a plan, its path (unless want_path is empty) and the values.
inline bool run_and_compare(Problem& p, const std::string& want_path, double rel,
                            const RunOptions& o = {}) {
  const PlaneSpec ref_spec{p.c.cout, p.c.out.stride, DType::F32};
  Buffer out = empty_out(p.pixels(), p.c.out, p.c.align64);
  const Buffer empty = empty_out(p.pixels(), p.c.out);
  Buffer* res = p.c.residual ? &p.residual : nullptr;
  CellConvArgs a = p.args(p.inputs, res, p.weight, p.bias, out, p.c.relu);
  std::unique_ptr<CellConvPlan> plan = o.make ? o.make(a) : falsr::core::make_cell_conv_plan(a);
  if (o.make) CHECK(plan != nullptr);
  if (!plan) return false;
  if (!want_path.empty()) {
    CHECK(plan->path() == want_path);
    if (plan->path() != want_path) {
      std::fprintf(stderr, "path %s, expected %s\n", plan->path().c_str(), want_path.c_str());
      return false;
    }
  }
  const int64_t tasks = plan->num_tasks();
  std::vector<int64_t> cuts{0, tasks / 2, tasks};
  if (o.cuts != nullptr) {
    cuts = {0, tasks};
    for (int i = 0; i < 3; ++i) cuts.push_back(static_cast<int64_t>((*o.cuts)() % (tasks + 1)));
    std::sort(cuts.begin(), cuts.end());
  }
  for (size_t i = cuts.size() - 1; i > 0; --i) plan->run_tasks(a, cuts[i - 1], cuts[i]);

  if (p.want.f.empty()) {
    p.want = empty_out(p.pixels(), ref_spec);
    falsr::core::cell_conv_naive(p.args(p.inputs, res, p.weight, p.bias, p.want, p.c.relu));
    std::vector<Buffer> abs_in;
    for (const Buffer& b : p.inputs) abs_in.push_back(abs_of(b));
    Buffer abs_res = p.c.residual ? abs_of(p.residual) : Buffer{};
    std::vector<float> abs_w = p.weight, abs_b = p.bias;
    for (float& x : abs_w) x = std::fabs(x);
    for (float& x : abs_b) x = std::fabs(x);
    p.scale = empty_out(p.pixels(), ref_spec);
    falsr::core::cell_conv_naive(
        p.args(abs_in, p.c.residual ? &abs_res : nullptr, abs_w, abs_b, p.scale, false));
  }

  const bool bf16_out = p.c.out.dtype == DType::BF16;
  bool ok = true;
  int reported = 0;
  for (int64_t pix = 0; pix < p.pixels(); ++pix) {
    for (int64_t ch = 0; ch < p.c.out.stride; ++ch) {
      const size_t i = static_cast<size_t>(pix * p.c.out.stride + ch);
      const double got = out.get(i), want = p.want.get(i), scale = p.scale.get(i);
      bool bad;
      if (ch >= p.c.cout) {
        bad = got != empty.get(i);  // padding of a strided output stays untouched
      } else {
        double tol = rel * scale + 1e-30;
        if (bf16_out && o.out_ulp) tol += half_bf16_ulp(std::max(std::fabs(got), std::fabs(want)));
        bad = !(std::fabs(got - want) <= tol);
        if (o.worst && !bf16_out) *o.worst = std::max(*o.worst, std::fabs(got - want) / scale);
      }
      if (bad) {
        ok = false;
        if (reported++ < 3) {
          std::fprintf(stderr, "%s pixel %lld ch %lld: got %.9g want %.9g (scale %g)\n",
                       plan->path().c_str(), static_cast<long long>(pix),
                       static_cast<long long>(ch), got, want, scale);
        }
      }
    }
  }
  CHECK(ok);
  return ok;
}

inline std::string describe(const Case& c) {
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

inline DType random_dtype(std::mt19937& rng, double p_bf16 = 0.5) {
  return std::bernoulli_distribution(p_bf16)(rng) ? DType::BF16 : DType::F32;
}

// `cin` channels split into 1-3 planes (a concat), a third of them channel slices of a
// wider buffer (stride + 1..5); bf16 with probability p_bf16. `even` rounds each plane's
// channels up to even (so the total may exceed cin).
inline std::vector<PlaneSpec> random_planes(std::mt19937& rng, int64_t cin, double p_bf16,
                                            bool even = false) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int planes = static_cast<int>(std::min<int64_t>(cin, pick(1, 3)));
  std::vector<PlaneSpec> v;
  int64_t left = cin;
  for (int i = 0; i < planes; ++i) {
    PlaneSpec s;
    s.channels = i + 1 == planes ? left : pick(1, static_cast<int>(left - (planes - 1 - i)));
    left -= s.channels;
    if (even) s.channels += s.channels % 2;
    s.stride = s.channels + (pick(0, 2) == 0 ? pick(1, 5) : 0);
    s.dtype = random_dtype(rng, p_bf16);
    v.push_back(s);
  }
  return v;
}

// Random ReLU / bias / residual, and residual and output planes (a third of them slices of
// a wider buffer), each bf16 with probability p_bf16.
inline void random_epilogue(Case& c, std::mt19937& rng, double p_bf16 = 0.5) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  c.relu = pick(0, 1) == 1;
  c.bias = pick(0, 1) == 1;
  c.residual = pick(0, 1) == 1;
  c.res = PlaneSpec{c.cout, c.cout + (pick(0, 2) == 0 ? 3 : 0), random_dtype(rng, p_bf16)};
  c.out = PlaneSpec{c.cout, c.cout + (pick(0, 2) == 0 ? 2 : 0), random_dtype(rng, p_bf16)};
}

// A case of the Winograd tests (fp32 or bf16 inputs `in`): dense 3x3, channel sets past
// the GEMM's k splits (over 128 / 256 channels), H and W 1..37 (i < 4: the smallest sizes,
// then a 150-wide row of several column blocks), sometimes strided planes, 64-byte aligned.
inline Case winograd_case(std::mt19937& rng, int i, DType in) {
  static const std::vector<std::vector<int64_t>> channel_sets = {
      {17}, {48}, {64, 48}, {16, 5, 23}, {64}, {33, 64, 7}, {64, 48, 33}, {200, 61}};
  static const int64_t couts[] = {16, 17, 32, 48, 64, 80, 100};
  Case c;
  c.align64 = true;
  c.n = 1 + rng() % 2;
  c.h = 1 + rng() % 37;
  c.w = 1 + rng() % 37;
  if (i < 4) {
    c.h = 1 + i;
    c.w = i == 3 ? 150 : 1 + i;
  }
  std::vector<int64_t> channels = channel_sets[rng() % channel_sets.size()];
  if (i == 3) channels = {200, 61};
  for (int64_t ch : channels) {
    c.inputs.push_back(PlaneSpec{ch, ch + static_cast<int64_t>(rng() % 3) * 5, in});
  }
  c.cout = couts[rng() % 7];
  c.relu = rng() % 2;
  c.bias = rng() % 4 != 0;
  c.residual = rng() % 2;
  c.out = PlaneSpec{c.cout, c.cout + static_cast<int64_t>(rng() % 2) * 7,
                    rng() % 3 == 0 ? DType::BF16 : DType::F32};
  c.res = PlaneSpec{c.cout, c.cout + 3, rng() % 2 ? DType::BF16 : DType::F32};
  return c;
}

// A 17 MB fp32 output of whole 64-byte lines (out_gap a multiple of 16): the Winograd
// paths' streaming-store epilogue.
inline Case winograd_big_case(DType in, int64_t out_gap, bool relu) {
  Case c;
  c.align64 = true;
  c.h = c.w = 260;
  c.cout = 64;
  c.inputs = {PlaneSpec{17, 17, in}, PlaneSpec{31, 31, in}};
  c.relu = relu;
  c.bias = c.residual = true;
  c.out = PlaneSpec{64, 64 + out_gap, DType::F32};
  c.res = PlaneSpec{64, 67, DType::F32};
  return c;
}

// Runs fn(isa) under FALSR_CPU_ISA=isa for each of `levels` this CPU has (the others are
// reported skipped), then clears FALSR_CPU_ISA.
template <class Fn>
void for_each_isa(std::initializer_list<Isa> levels, Fn&& fn) {
  for (Isa isa : levels) {
    if (static_cast<int>(isa) > static_cast<int>(falsr::core::cpu_isa())) {
      std::printf("skipping %s: this CPU lacks it\n", falsr::core::isa_name(isa));
      continue;
    }
    setenv("FALSR_CPU_ISA", falsr::core::isa_name(isa), 1);
    fn(isa);
  }
  unsetenv("FALSR_CPU_ISA");
}

}  // namespace falsr::core::test_cases
