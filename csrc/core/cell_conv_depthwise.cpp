// The depthwise cell_conv path: groups == Cin == Cout, k 1 or 3, any mix of fp32 / bf16
// planes (each channel lives in exactly one plane, so the conv runs plane by plane),
// fp32 arithmetic, fused bias / ReLU / residual, fp32 or bf16 output. Memory bound: the
// planes are read in place, each input vector widened once per few output rows and
// each output written once. A task is (image, block of rows). Kernel:
// cell_conv_depthwise_kernels.inc, one copy per instruction set (generic, AVX2, AVX-512).
#include "core/cell_conv_depthwise.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/cell_conv_lanes.h"
#include "core/cell_conv_paths.h"
#include "core/target.h"

namespace falsr::core {
namespace depthwise {

namespace generic_isa {
using V = lanes::Generic;
#include "core/cell_conv_depthwise_kernels.inc"
}  // namespace generic_isa
Kernels kernels_generic() { return {&generic_isa::run_rows, lanes::Generic::L, generic_isa::kMaxRows, nullptr}; }

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) void store_fence() { _mm_sfence(); }

FALSR_TARGET_PUSH("avx2,fma")
namespace avx2_isa {
using V = lanes::Avx2;
#include "core/cell_conv_depthwise_kernels.inc"
}  // namespace avx2_isa
FALSR_TARGET_POP

FALSR_TARGET_PUSH("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#pragma GCC diagnostic push
FALSR_IGNORE_MAYBE_UNINITIALIZED
#pragma GCC diagnostic ignored "-Wuninitialized"
namespace avx512_isa {
using V = lanes::Avx512;
#include "core/cell_conv_depthwise_kernels.inc"
}  // namespace avx512_isa
#pragma GCC diagnostic pop
FALSR_TARGET_POP

Kernels kernels_avx2() { return {&avx2_isa::run_rows, lanes::Avx2::L, avx2_isa::kMaxRows, &store_fence}; }
Kernels kernels_avx512() { return {&avx512_isa::run_rows, lanes::Avx512::L, avx512_isa::kMaxRows, &store_fence}; }
#else
Kernels kernels_avx2() { return {}; }
Kernels kernels_avx512() { return {}; }
#endif

}  // namespace depthwise

namespace {

// Stands in for an input row outside the image (read with stride 0).
alignas(64) const float kZeros[16] = {};

constexpr int64_t kChunkBytes = 96 * 1024;
constexpr int64_t kStreamBytes = int64_t{16} << 20;

int64_t elem_bytes(DType dt) { return dt == DType::BF16 ? 2 : 4; }

const void* offset(const void* base, DType dt, int64_t elems) {
  return static_cast<const char*>(base) + elems * elem_bytes(dt);
}

class DepthwisePlan final : public CellConvPlan {
 public:
  DepthwisePlan(const CellConvArgs& a, depthwise::Kernels kernels, std::string path)
      : kernels_(kernels), path_(std::move(path)) {
    const int L = kernels_.lanes;
    const int64_t taps = a.kernel * a.kernel;
    int64_t c0 = 0;
    for (size_t i = 0; i < a.inputs.size(); ++i) {
      for (int64_t c = 0; c < a.inputs[i].channels; c += L) {
        Block b;
        b.plane = i;
        b.plane_channel = c;
        b.channel = c0 + c;
        b.lanes = static_cast<int>(std::min<int64_t>(L, a.inputs[i].channels - c));
        blocks_.push_back(b);
      }
      c0 += a.inputs[i].channels;
    }
    // Per block: [tap][L] weights then [L] bias, zero in the dead lanes.
    block_floats_ = (taps + 1) * L;
    packed_.assign(static_cast<size_t>(block_floats_ * static_cast<int64_t>(blocks_.size())), 0.0f);
    for (size_t bi = 0; bi < blocks_.size(); ++bi) {
      float* p = packed_.data() + static_cast<int64_t>(bi) * block_floats_;
      for (int l = 0; l < blocks_[bi].lanes; ++l) {
        const int64_t ch = blocks_[bi].channel + l;
        for (int64_t t = 0; t < taps; ++t) p[t * L + l] = a.weight[ch * taps + t];
        p[taps * L + l] = a.bias != nullptr ? a.bias[ch] : 0.0f;
      }
    }
    batch_ = a.batch;
    height_ = a.height;
    // A few rows per task to balance threads; neighbouring tasks of one thread share
    // their halo rows through the cache.
    rows_per_task_ = std::clamp<int64_t>((a.height + 15) / 16, 1, 8);
    tasks_per_image_ = (a.height + rows_per_task_ - 1) / rows_per_task_;
    // Columns per pass over the channel blocks: the 4 input rows of a chunk stay in L2
    // (a whole row of a wide plane would be evicted before the next block reads it).
    // 5 = the input rows of up to 3 output rows.
    int64_t pixel_bytes = 0;
    for (const Plane& p : a.inputs) pixel_bytes += p.pixel_stride * elem_bytes(p.dtype);
    // Outputs far larger than the caches: fp32 rows stored past the cache (no read for
    // ownership of the output lines) when the blocks are whole aligned vectors.
    stream_ = a.out.dtype == DType::F32 && (a.out.pixel_stride * 4) % (4 * kernels_.lanes) == 0 &&
              a.batch * a.height * a.width * a.out.pixel_stride * 4 >= kStreamBytes &&
              kernels_.fence != nullptr;
    chunk_ = std::min<int64_t>(a.width, std::max<int64_t>(8, kChunkBytes / (5 * pixel_bytes)));
  }

  int64_t num_tasks() const override { return batch_ * tasks_per_image_; }

  void run_tasks(const CellConvArgs& a, int64_t begin, int64_t end) const override {
    const int64_t k = a.kernel, pad = k / 2, taps = k * k, W = a.width, H = a.height;
    const int L = kernels_.lanes;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / tasks_per_image_;
      const int64_t y0 = (t % tasks_per_image_) * rows_per_task_;
      const int64_t y1 = std::min(H, y0 + rows_per_task_);
      for (int64_t y = y0; y < y1; y += kernels_.max_rows) {
        depthwise::Rows d;
        d.rows = static_cast<int>(std::min<int64_t>(kernels_.max_rows, y1 - y));
        d.k = static_cast<int>(k);
        d.width = W;
        d.relu = a.relu;
        d.out_dtype = a.out.dtype;
        d.out_stride = a.out.pixel_stride;
        d.res_dtype = a.residual.dtype;
        d.res_stride = a.residual.pixel_stride;
        for (int64_t x0 = 0; x0 < W; x0 += chunk_) {
        d.x0 = x0;
        d.x1 = std::min(W, x0 + chunk_);
        for (const Block& b : blocks_) {
          const Plane& p = a.inputs[b.plane];
          d.in_dtype = p.dtype;
          for (int64_t r = 0; r < d.rows + k - 1; ++r) {
            const int64_t yy = y - pad + r;
            const bool inside = yy >= 0 && yy < H;
            d.in[r] = inside ? offset(p.data, p.dtype, (n * H + yy) * W * p.pixel_stride + b.plane_channel)
                             : static_cast<const void*>(kZeros);
            d.in_stride[r] = inside ? p.pixel_stride : 0;
          }
          for (int r = 0; r < d.rows; ++r) {
            const int64_t row = (n * H + y + r) * W;
            d.out[r] = static_cast<char*>(a.out.data) +
                       (row * a.out.pixel_stride + b.channel) * elem_bytes(a.out.dtype);
            d.res[r] = a.has_residual ? offset(a.residual.data, a.residual.dtype,
                                               row * a.residual.pixel_stride + b.channel)
                                      : nullptr;
          }
          const float* packed = packed_.data() + (&b - blocks_.data()) * block_floats_;
          d.w = packed;
          d.bias = packed + taps * L;
          d.lanes = b.lanes;
          d.stream = stream_ && b.lanes == L &&
                     reinterpret_cast<uintptr_t>(d.out[0]) % (4 * L) == 0;
          kernels_.run(d);
        }
        }
      }
    }
    if (stream_) kernels_.fence();  // streamed stores ordered before the caller's join
  }

  std::string path() const override { return path_; }

 private:
  struct Block {
    size_t plane = 0;
    int64_t plane_channel = 0;  // first channel within its plane
    int64_t channel = 0;        // first channel of the concat (= output channel)
    int lanes = 0;
  };
  depthwise::Kernels kernels_;
  std::string path_;
  std::vector<Block> blocks_;
  std::vector<float> packed_;
  int64_t block_floats_ = 0;
  int64_t chunk_ = 1;
  bool stream_ = false;
  int64_t batch_ = 0, height_ = 0, rows_per_task_ = 1, tasks_per_image_ = 0;
};

}  // namespace

std::unique_ptr<CellConvPlan> make_depthwise_cell_conv_plan(const CellConvArgs& a, Isa isa) {
  int64_t cin = 0;
  for (const Plane& p : a.inputs) cin += p.channels;
  if (a.groups != cin || a.out_channels != cin || (a.kernel != 1 && a.kernel != 3)) return nullptr;
  if (static_cast<int>(isa) >= static_cast<int>(Isa::Avx512) && depthwise::kernels_avx512().run) {
    return std::make_unique<DepthwisePlan>(a, depthwise::kernels_avx512(), "avx512/depthwise");
  }
  if (static_cast<int>(isa) >= static_cast<int>(Isa::Avx2) && depthwise::kernels_avx2().run) {
    return std::make_unique<DepthwisePlan>(a, depthwise::kernels_avx2(), "avx2/depthwise");
  }
  return std::make_unique<DepthwisePlan>(a, depthwise::kernels_generic(), "generic/depthwise");
}

}  // namespace falsr::core
