// One block of FALSR's inverted-bottleneck ("ib") cells, fused, on plain pointers (no
// torch), NHWC. With f = filters, wide = the expanded width (FALSR: 2 f), k in {1, 3}:
//
//   h1  = ReLU(conv_kxk(x, expand_w [wide, f, k, k], expand_b))     padding k/2
//   h2  = ReLU(depthwise_conv3x3(h1, dw_w [wide, 1, 3, 3], dw_b))   padding 1
//   out = x + conv_kxk(h2, project_w [f, wide, k, k], project_b)   padding k/2
//         (+ extra_residual when has_extra_residual)
//
// Every conv zero-pads at the image borders exactly as conv2d: h1 and h2 are zero outside
// the image (not ReLU(bias)). Weights are PyTorch's contiguous layouts, fp32; a null bias
// means no bias. x, out and the extra residual are fp32 or bf16 planes (any mix); all
// arithmetic and the intermediates are fp32, the output is rounded once to its dtype.
//
// Why fused: the wide maps h1 / h2 are wide/f times the size of x. A task (n, band of output rows,
// tile of columns) computes h1 and h2 for its tile plus halo into rolling row buffers
// that stay in cache and projects straight into `out`; the wide maps never reach memory.
// Tasks are independent, for a caller with its own thread pool (at::parallel_for).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/activation.h"
#include "core/isa.h"

namespace falsr::core {

struct InvertedBottleneckArgs {
  int64_t batch = 0, height = 0, width = 0;
  Plane x;  // filters channels
  int64_t filters = 0;
  int64_t kernel = 3;  // 1 or 3: expand and project; the depthwise conv is always 3x3
  int64_t wide = 0;    // channels of the expanded maps (FALSR's IB_EXPANSION * filters)
  const float* expand_w = nullptr;   // [wide, f, k, k]
  const float* expand_b = nullptr;   // [wide] or null
  const float* dw_w = nullptr;       // [wide, 1, 3, 3]
  const float* dw_b = nullptr;       // [wide] or null
  const float* project_w = nullptr;  // [f, wide, k, k]
  const float* project_b = nullptr;  // [f] or null
  bool has_extra_residual = false;
  Plane extra_residual;  // filters channels, used when has_extra_residual
  MutPlane out;          // filters channels; must not overlap x or the extra residual
};

class InvertedBottleneckPlan {
 public:
  virtual ~InvertedBottleneckPlan() = default;
  virtual int64_t num_tasks() const = 0;
  // Runs tasks [begin, end) on the calling thread; tasks are independent and write
  // disjoint parts of `out`. Reads a.x, a.extra_residual and a.out (the weights were
  // packed by make_inverted_bottleneck_plan); shapes, dtypes and strides must be those
  // the plan was made with. Allocates a small workspace per call.
  virtual void run_tasks(const InvertedBottleneckArgs& a, int64_t begin, int64_t end) const = 0;
  // The code path: "avx512/fused", "avx2/fused" or "generic/fused".
  virtual std::string path() const = 0;
};

// How the image is cut into tasks: bands of about band_rows output rows times tiles of
// about tile_cols columns (evened out). 0 = the default (96 x 128: the halo recompute is
// about 4% per direction for k = 3, and the rolling rows stay in L2 up to f = 48).
struct InvertedBottleneckTiling {
  int64_t band_rows = 0;
  int64_t tile_cols = 0;
};

// Checks `a` (sizes >= 1, kernel 1 or 3, non-null pointers, channels and strides, no
// overlap of out with x or the extra residual; throws std::invalid_argument) and packs
// the weights for the best path <= max_isa().
std::unique_ptr<InvertedBottleneckPlan> make_inverted_bottleneck_plan(
    const InvertedBottleneckArgs& a, const InvertedBottleneckTiling& tiling = {});

// Naive reference (double accumulation, the wide maps materialised): for tests.
// Validates like make_inverted_bottleneck_plan.
void inverted_bottleneck_naive(const InvertedBottleneckArgs& a);

}  // namespace falsr::core
