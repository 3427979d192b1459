// Shared fixtures of the cell_conv path tests (depthwise, grouped): random planes of
// fp32 / bf16 with channel slices, one problem per Case, and the comparison of a path's
// result with the double-accumulating cell_conv_naive.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cell_conv.h"
#include "core/tests/check.h"

namespace falsr::core::test_cases {

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

inline float random_value(std::mt19937& rng) {
  const float v = std::uniform_real_distribution<float>(0.1f, 1.0f)(rng);
  return std::bernoulli_distribution(0.5)(rng) ? -v : v;
}

inline Buffer random_buffer(int64_t pixels, const PlaneSpec& s, std::mt19937& rng) {
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

inline Buffer abs_of(const Buffer& in) {
  Buffer o = in;
  for (float& x : o.f) x = std::fabs(x);
  for (uint16_t& x : o.b) x = static_cast<uint16_t>(x & 0x7fffu);
  return o;
}

inline Buffer empty_out(int64_t pixels, const PlaneSpec& s) {
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

inline Problem make_problem(const Case& c, std::mt19937& rng) {
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
inline double half_bf16_ulp(double x) {
  int e = 0;
  std::frexp(x, &e);  // x = m * 2^e, 0.5 <= |m| < 1
  return std::ldexp(1.0, e - 9);
}

// Runs the plan (tasks split in two ranges) and compares with the naive reference (fp32
// output); the bound is `rel` times the sum of |terms| (naive on |inputs|, |weights|,
// |bias|, |residual|), plus half a bf16 ulp for a bf16 output.
inline bool run_and_compare(Problem& p, const std::string& want_path, double rel) {
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

inline std::string describe(const Case& c) {
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

inline DType random_dtype(std::mt19937& rng) {
  return std::bernoulli_distribution(0.5)(rng) ? DType::BF16 : DType::F32;
}


}  // namespace falsr::core::test_cases
