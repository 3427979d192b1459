// The cell convolution of the FALSR engine, on plain pointers (no torch), NHWC:
//
//   out = act(conv2d(concat(inputs, channels), weight, bias, stride 1, padding k/2,
//                    groups)) + residual
//
//   inputs    planes [N, H, W, C_i], read in place: the concat is never materialised
//   weight    [Cout, Cin/groups, k, k] fp32 contiguous (PyTorch's layout), k in {1, 3}
//   bias      [Cout] fp32 or null;  act = ReLU or identity;  residual [N,H,W,Cout] or none
//   out       [N, H, W, Cout]
//
// Any mix of fp32 / bf16 planes. Arithmetic: fp32 accumulation always. On the fp32 path
// products are fp32 (matches PyTorch to ~1e-6 relative); on the bf16 path (all inputs
// bf16) products may run on AMX / AVX-512 bf16 with fp32 accumulation. The epilogue
// (bias, ReLU, residual) is fp32; the output is rounded once to its dtype.
//
// Work is split into independent tasks (n, block of output rows) for a caller with its
// own thread pool (the torch layer uses at::parallel_for). Throws std::invalid_argument
// on bad arguments (checked in make_cell_conv_plan).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/activation.h"
#include "core/isa.h"

namespace falsr::core {

// Auto: the fastest applicable path. Direct: never Winograd (bit-closer to PyTorch).
enum class ConvAlgo : int { Auto = 0, Direct = 1 };

struct CellConvArgs {
  int64_t batch = 0, height = 0, width = 0;
  std::vector<Plane> inputs;  // concatenated in this order
  const float* weight = nullptr;
  const float* bias = nullptr;  // may be null
  int64_t out_channels = 0;
  int64_t kernel = 3;  // 1 or 3
  int64_t groups = 1;  // divides Cin and Cout; groups == Cin == Cout is depthwise
  bool relu = false;
  bool has_residual = false;
  Plane residual;  // used when has_residual; Cout channels
  MutPlane out;    // Cout channels; must not overlap any input or the residual
  ConvAlgo algo = ConvAlgo::Auto;
};

// A validated, packed convolution: weights re-laid out for the chosen code path once,
// then run many times (the engine keeps plans; the op makes one per call).
class CellConvPlan {
 public:
  virtual ~CellConvPlan() = default;
  virtual int64_t num_tasks() const = 0;
  // Runs tasks [begin, end) on the calling thread; tasks are independent.
  virtual void run_tasks(const CellConvArgs& a, int64_t begin, int64_t end) const = 0;
  // The code path, e.g. "avx512/direct", "amx/direct", "avx512/winograd2", "generic".
  virtual std::string path() const = 0;
};

// Checks `a` (shapes, strides, non-null pointers, no overlap of out with inputs) and
// packs the weights for the best path <= max_isa(). Only the pointers' targets may change
// between make and run (same shapes, dtypes and strides).
std::unique_ptr<CellConvPlan> make_cell_conv_plan(const CellConvArgs& a);

// Naive reference (double accumulation, one output element at a time): for tests.
void cell_conv_naive(const CellConvArgs& a);

}  // namespace falsr::core
