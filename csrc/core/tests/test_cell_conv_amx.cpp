// C++ tests of the AMX bf16 cell_conv path (cell_conv_amx.cpp, cell_conv_amx_kernel.h)
// against a double-accumulating reference of the same semantics on the bf16-rounded
// inputs and weights: random shapes (1-3 concat inputs, odd channel counts, strided
// planes, widths 1..40, k 1/3, Cout not a multiple of 16, groups 1-4), ReLU, bias,
// residual fp32 / bf16, out fp32 / bf16.
//
// The kernel runs twice: with the hardware tiles (only where cpu_isa() == Amx; skipped
// with a message otherwise) and with a scalar tile emulator (tests/amx_tile_emulator.h,
// any CPU with AVX-512 bf16, which the epilogue needs), so the blocking, packing and
// epilogue are checked even on machines without AMX.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "core/cell_conv_amx_kernel.h"
#include "core/cell_conv_paths.h"
#include "core/tests/amx_tile_emulator.h"
#include "core/tests/check.h"

#if FALSR_AMX_AVAILABLE
namespace {

using falsr::core::bf16_to_float;
using falsr::core::CellConvArgs;
using falsr::core::DType;
using falsr::core::float_to_bf16;
using falsr::core::Isa;
using falsr::core::MutPlane;
using falsr::core::Plane;

std::mt19937 g_rng(1234);

int64_t rand_int(int64_t lo, int64_t hi) {  // inclusive
  return std::uniform_int_distribution<int64_t>(lo, hi)(g_rng);
}
float rand_value() {
  float v = std::uniform_real_distribution<float>(0.05f, 1.0f)(g_rng);
  return rand_int(0, 1) ? v : -v;  // never zero
}

// One random problem with its buffers.
struct Case {
  int64_t n, h, w, k, cout, groups;
  std::vector<std::vector<uint16_t>> inputs;  // bf16 planes
  std::vector<int64_t> in_channels, in_stride;
  std::vector<float> weight, bias;
  bool has_bias, relu, has_residual;
  DType res_dtype, out_dtype;
  int64_t res_stride, out_stride;
  std::vector<float> res_f32;
  std::vector<uint16_t> res_bf16;

  int64_t cin() const {
    int64_t c = 0;
    for (int64_t v : in_channels) c += v;
    return c;
  }
};

Case random_case(int64_t cin_max, int64_t w) {
  Case c;
  c.n = rand_int(1, 2);
  c.h = rand_int(1, 20);  // > 16: several row-block tasks for k = 3
  c.w = w;
  c.k = rand_int(0, 1) ? 3 : 1;
  const int64_t groups[] = {1, 1, 1, 2, 3, 4};
  c.groups = groups[rand_int(0, 5)];
  const int64_t couts[] = {1, 7, 8, 16, 24, 32, 48, 64, 33};
  c.cout = c.groups == 1 ? couts[rand_int(0, 8)] : c.groups * rand_int(1, 24);
  const int64_t planes = rand_int(1, 3);
  int64_t cin = 0;
  for (int64_t p = 0; p < planes; ++p) {
    int64_t ch = rand_int(1, cin_max);
    if (p == planes - 1) ch += (c.groups - (cin + ch) % c.groups) % c.groups;  // g | Cin
    cin += ch;
    const int64_t stride = ch + (rand_int(0, 1) ? rand_int(1, 5) : 0);
    std::vector<uint16_t> data(c.n * c.h * c.w * stride, 0x7fc0);  // NaN in the gaps
    for (int64_t pix = 0; pix < c.n * c.h * c.w; ++pix) {
      for (int64_t ch_i = 0; ch_i < ch; ++ch_i) data[pix * stride + ch_i] = float_to_bf16(rand_value());
    }
    c.inputs.push_back(std::move(data));
    c.in_channels.push_back(ch);
    c.in_stride.push_back(stride);
  }
  c.weight.resize(c.cout * (c.cin() / c.groups) * c.k * c.k);
  for (float& v : c.weight) v = rand_value() * 0.5f;
  c.has_bias = rand_int(0, 1);
  c.bias.resize(c.cout);
  for (float& v : c.bias) v = rand_value();
  c.relu = rand_int(0, 1);
  c.has_residual = rand_int(0, 1);
  c.res_dtype = rand_int(0, 1) ? DType::F32 : DType::BF16;
  c.res_stride = c.cout + rand_int(0, 3);
  c.res_f32.resize(c.n * c.h * c.w * c.res_stride);
  c.res_bf16.resize(c.res_f32.size());
  for (size_t i = 0; i < c.res_f32.size(); ++i) {
    c.res_f32[i] = rand_value();
    c.res_bf16[i] = float_to_bf16(rand_value());
  }
  c.out_dtype = rand_int(0, 1) ? DType::F32 : DType::BF16;
  c.out_stride = c.cout + rand_int(0, 3);
  return c;
}

CellConvArgs make_args(const Case& c, void* out) {
  CellConvArgs a;
  a.batch = c.n;
  a.height = c.h;
  a.width = c.w;
  for (size_t p = 0; p < c.inputs.size(); ++p) {
    a.inputs.push_back(Plane{c.inputs[p].data(), DType::BF16, c.in_channels[p], c.in_stride[p]});
  }
  a.weight = c.weight.data();
  a.bias = c.has_bias ? c.bias.data() : nullptr;
  a.out_channels = c.cout;
  a.kernel = c.k;
  a.groups = c.groups;
  a.relu = c.relu;
  a.has_residual = c.has_residual;
  if (c.has_residual) {
    a.residual = Plane{c.res_dtype == DType::F32 ? static_cast<const void*>(c.res_f32.data())
                                                 : static_cast<const void*>(c.res_bf16.data()),
                       c.res_dtype, c.cout, c.res_stride};
  }
  a.out = MutPlane{out, c.out_dtype, c.cout, c.out_stride};
  return a;
}

// Reference in double on bf16 weights; also returns the sum of |terms| per output,
// the scale of the fp32 accumulation error.
void reference(const Case& c, std::vector<double>& ref, std::vector<double>& scale) {
  const int64_t cin_g = c.cin() / c.groups, cout_g = c.cout / c.groups, pad = c.k / 2;
  ref.assign(c.n * c.h * c.w * c.cout, 0.0);
  scale.assign(ref.size(), 0.0);
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t y = 0; y < c.h; ++y)
      for (int64_t x = 0; x < c.w; ++x)
        for (int64_t co = 0; co < c.cout; ++co) {
          double acc = c.has_bias ? c.bias[co] : 0.0, abs_sum = std::fabs(acc);
          for (int64_t kh = 0; kh < c.k; ++kh)
            for (int64_t kw = 0; kw < c.k; ++kw) {
              const int64_t iy = y + kh - pad, ix = x + kw - pad;
              if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
              int64_t ci = 0;
              for (size_t p = 0; p < c.inputs.size(); ++p) {
                const uint16_t* px = c.inputs[p].data() + ((n * c.h + iy) * c.w + ix) * c.in_stride[p];
                for (int64_t j = 0; j < c.in_channels[p]; ++j, ++ci) {
                  if (ci / cin_g != co / cout_g) continue;  // another group's channel
                  const int64_t cg = ci % cin_g;
                  const float w = bf16_to_float(
                      float_to_bf16(c.weight[((co * cin_g + cg) * c.k + kh) * c.k + kw]));
                  const double t = double(bf16_to_float(px[j])) * double(w);
                  acc += t;
                  abs_sum += std::fabs(t);
                }
              }
            }
          if (c.relu) acc = std::max(acc, 0.0);
          const int64_t pix = (n * c.h + y) * c.w + x;
          if (c.has_residual) {
            const double r = c.res_dtype == DType::F32
                                 ? c.res_f32[pix * c.res_stride + co]
                                 : bf16_to_float(c.res_bf16[pix * c.res_stride + co]);
            acc += r;
            abs_sum += std::fabs(r);
          }
          ref[pix * c.cout + co] = acc;
          scale[pix * c.cout + co] = abs_sum;
        }
}

// Runs `run(args)` into a sentinel-filled out plane and compares: fp32 accumulation
// to 1e-5 of the sum of |terms|, plus half a bf16 ulp for a bf16 out; the gap
// channels of a strided out plane must stay untouched.
template <class Run>
bool check_case(const Case& c, const std::vector<double>& ref, const std::vector<double>& scale,
                Run&& run) {
  const int64_t pixels = c.n * c.h * c.w;
  std::vector<float> out_f32(pixels * c.out_stride, -12345.0f);
  std::vector<uint16_t> out_bf16(pixels * c.out_stride, 0x1234);
  void* out = c.out_dtype == DType::F32 ? static_cast<void*>(out_f32.data())
                                        : static_cast<void*>(out_bf16.data());
  run(make_args(c, out));
  int bad = 0;
  for (int64_t pix = 0; pix < pixels; ++pix) {
    for (int64_t co = 0; co < c.out_stride; ++co) {
      const int64_t i = pix * c.out_stride + co;
      if (co >= c.cout) {
        const bool kept = c.out_dtype == DType::F32 ? out_f32[i] == -12345.0f : out_bf16[i] == 0x1234;
        if (!kept) ++bad;
        continue;
      }
      const double got = c.out_dtype == DType::F32 ? out_f32[i] : bf16_to_float(out_bf16[i]);
      const double r = ref[pix * c.cout + co];
      double tol = 1e-5 * scale[pix * c.cout + co] + 1e-30;
      if (c.out_dtype == DType::BF16) tol += std::fabs(r) * (1.0 / 256.0);
      if (!(std::fabs(got - r) <= tol)) {
        if (bad < 3) {
          std::fprintf(stderr, "  pix %lld co %lld: got %.8g ref %.8g tol %.3g\n",
                       static_cast<long long>(pix), static_cast<long long>(co), got, r, tol);
        }
        ++bad;
      }
    }
  }
  if (bad != 0) {
    std::fprintf(stderr,
                 "case n=%lld h=%lld w=%lld k=%lld cin=%lld cout=%lld groups=%lld planes=%zu "
                 "relu=%d bias=%d res=%d out_bf16=%d: %d bad\n",
                 static_cast<long long>(c.n), static_cast<long long>(c.h),
                 static_cast<long long>(c.w), static_cast<long long>(c.k),
                 static_cast<long long>(c.cin()), static_cast<long long>(c.cout),
                 static_cast<long long>(c.groups),
                 c.inputs.size(), c.relu, c.has_bias, c.has_residual,
                 c.out_dtype == DType::BF16, bad);
  }
  return bad == 0;
}

bool cpu_has_avx512_bf16() {
  return static_cast<int>(falsr::core::cpu_isa()) >= static_cast<int>(Isa::Avx512Bf16);
}

void test_factory_declines() {
  Case c = random_case(20, 5);
  std::vector<float> out(c.n * c.h * c.w * c.out_stride);
  CellConvArgs a = make_args(c, out.data());
  a.out.dtype = DType::F32;
  for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512}) {
    CHECK(falsr::core::make_amx_cell_conv_plan(a, isa) == nullptr);
  }
  // Depthwise: dense tiles would waste 32x; the factory declines on every CPU.
  CellConvArgs depthwise = a;
  const int64_t ch = a.inputs[0].channels;
  depthwise.inputs.resize(1);
  depthwise.groups = depthwise.out_channels = depthwise.out.channels = ch;
  CHECK(falsr::core::amx::waste_factor(falsr::core::amx::make_layout(depthwise)) > 4.0 ||
        ch < 2);
  if (ch >= 2) CHECK(falsr::core::make_amx_cell_conv_plan(depthwise, Isa::Amx) == nullptr);
  // Four groups of 16 channels: one 32-channel chunk per 16-cout block, 2x waste.
  CellConvArgs g4 = a;
  g4.inputs = {Plane{nullptr, DType::BF16, 64, 64}};
  g4.groups = 4;
  g4.out_channels = 64;
  const falsr::core::amx::Layout l4 = falsr::core::amx::make_layout(g4);
  CHECK(falsr::core::amx::waste_factor(l4) == 2.0);
  CHECK_EQ(l4.chunk_begin[3], 1);
  CHECK_EQ(l4.chunk_end[0], 1);
  std::vector<float> f32(c.inputs[0].size(), 1.0f);
  CellConvArgs fp32_in = a;
  fp32_in.inputs[0].data = f32.data();
  fp32_in.inputs[0].dtype = DType::F32;
  CHECK(falsr::core::make_amx_cell_conv_plan(fp32_in, Isa::Amx) == nullptr);
  // A dense bf16 conv gets an AMX plan exactly where the CPU has AMX (the random case
  // above may be grouped with too much waste, which the factory declines everywhere).
  Case dense_case = random_case(20, 5);
  while (dense_case.groups != 1) dense_case = random_case(20, 5);
  std::vector<float> dense_out(dense_case.n * dense_case.h * dense_case.w *
                               dense_case.out_stride);
  CellConvArgs dense = make_args(dense_case, dense_out.data());
  dense.out.dtype = DType::F32;
  const bool amx = falsr::core::cpu_isa() == Isa::Amx;
  CHECK((falsr::core::make_amx_cell_conv_plan(dense, Isa::Amx) != nullptr) == amx);
}

}  // namespace

int main() {
  test_factory_declines();
  const bool emulate = cpu_has_avx512_bf16();
  const bool hardware = falsr::core::cpu_isa() == Isa::Amx;
  if (!emulate) std::printf("test_cell_conv_amx: no AVX-512 bf16: emulated-tile runs skipped\n");
  if (!hardware) {
    std::printf("test_cell_conv_amx: cpu_isa() = %s < amx: hardware AMX runs skipped\n",
                falsr::core::isa_name(falsr::core::cpu_isa()));
  }
  const int64_t widths[] = {1, 5, 16, 17, 33, 40};
  int cases = 0;
  for (int iter = 0; iter < 60; ++iter) {
    // Mostly small channel counts; some wide ones (many 32-channel chunks, like the
    // 464-channel FALSR fusion conv).
    Case c = random_case(iter % 10 == 9 ? 200 : 40, widths[iter % 6]);
    std::vector<double> ref, scale;
    reference(c, ref, scale);
    if (emulate) {
      CHECK(check_case(c, ref, scale, [&](const CellConvArgs& a) {
        // Odd cases: tiny ring budget, so 32-pixel column segments (several per row
        // for widths > 32) with halos from their neighbours.
        const falsr::core::amx::Layout l =
            iter % 2 ? falsr::core::amx::make_layout(a, 1) : falsr::core::amx::make_layout(a);
        CHECK(iter % 2 == 0 || l.seg_width == 32);
        const auto packed = falsr::core::amx::pack_weights(l, a.weight);
        // Two ranges: tasks are independent of which call runs them.
        const int64_t mid = l.num_tasks() / 2;
        falsr::core::amx::run_tasks<falsr::test::EmulatedTiles>(l, packed.get(), a, 0, mid);
        falsr::core::amx::run_tasks<falsr::test::EmulatedTiles>(l, packed.get(), a, mid,
                                                                l.num_tasks());
      }));
    }
    if (hardware) {
      std::vector<float> probe_out(c.n * c.h * c.w * c.out_stride);
      const CellConvArgs probe = make_args(c, probe_out.data());
      const bool applies =
          c.groups == 1 ||
          falsr::core::amx::waste_factor(falsr::core::amx::make_layout(probe)) <= 4.0;
      CHECK((falsr::core::make_amx_cell_conv_plan(probe, Isa::Amx) != nullptr) == applies);
      if (applies) CHECK(check_case(c, ref, scale, [&](const CellConvArgs& a) {
        const auto plan = falsr::core::make_amx_cell_conv_plan(a, Isa::Amx);
        CHECK(plan != nullptr && plan->path() == "amx/implicit_gemm");
        if (plan != nullptr) plan->run_tasks(a, 0, plan->num_tasks());
      }));
    }
    ++cases;
  }
  std::printf("test_cell_conv_amx: %d random cases (emulated tiles: %s, AMX hardware: %s)\n",
              cases, emulate ? "run" : "skipped", hardware ? "run" : "skipped");
  return falsr::test::report("test_cell_conv_amx");
}
#else
int main() {
  std::printf("test_cell_conv_amx: not an x86-64 GCC / Clang build: no AMX path, skipped\n");
  return 0;
}
#endif
