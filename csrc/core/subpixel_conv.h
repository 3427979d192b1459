// Fused residual add + sub-pixel shuffle + reconstruction conv, on plain pointers
// (no torch, no Python). The FALSR tail:
//
//   out = conv2d(depth_to_space(x + residual, s, order), weight, bias, padding = k/2)
//
//   x, residual [N, C*s*s, H, W]   fp32 or bf16 (residual may be null)
//   weight      [Cout, C, k, k]    fp32, contiguous, k in {1, 3} (any odd k works)
//   bias        [Cout]             fp32 or null
//   out         [N, Cout, H*s, W*s], same dtype and layout as x
//
// The HR feature map is never materialised: each task keeps a ring of k HR rows
// (all C channels, zero-padded by k/2 columns) that it gathers from the LR rows via
// the shuffle index (x + residual summed in fp32), and computes its output rows from
// them, vectorised over the output width. bf16 is storage only: the add and the
// accumulation are fp32, the result is rounded to bf16 once. Zero padding at the
// HR borders exactly as conv2d.
//
// Layouts: NCHW -> NCHW and NHWC -> NHWC (x, residual and out share the layout).
// The work is split into independent tasks (one per (n, block of output rows)) for a
// caller with its own thread pool; subpixel_conv() runs all of them with OpenMP.
// All functions throw std::invalid_argument on bad arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/subpixel_conv_index.h"

namespace falsr::core {

// Validates and returns the geometry. Throws std::invalid_argument if scale < 1, a
// dimension is negative, c_in is not divisible by scale*scale, weight_c_in differs
// from c_in / (scale*scale), c_out < 1, k is not odd and >= 1, or sizes overflow.
SubpixelConvGeometry make_subpixel_conv_geometry(int64_t n, int64_t c_in, int64_t h, int64_t w,
                                                 int64_t scale, int64_t c_out,
                                                 int64_t weight_c_in, int64_t k);

// Elements of x (= of residual) and of out.
int64_t subpixel_conv_in_numel(const SubpixelConvGeometry& g);
int64_t subpixel_conv_out_numel(const SubpixelConvGeometry& g);

// Output rows per task (the last task of an image may have fewer).
int64_t subpixel_conv_rows_per_task(const SubpixelConvGeometry& g);

// Independent units of work: n * ceil(H*s / rows_per_task).
int64_t subpixel_conv_num_tasks(const SubpixelConvGeometry& g);

struct SubpixelConvArgs {
  const void* x = nullptr;         // [N, C*s*s, H, W] in `layout`, `dtype`
  const void* residual = nullptr;  // same as x, or null (no residual)
  const float* weight = nullptr;   // [Cout, C, k, k] contiguous fp32
  const float* bias = nullptr;     // [Cout] fp32, or null (no bias)
  void* out = nullptr;             // [N, Cout, H*s, W*s] in `layout`, `dtype`
  SubpixelDType dtype = SubpixelDType::Float32;
  ChannelOrder order = ChannelOrder::Torch;
  Layout layout = Layout::NCHW;
};

// Runs tasks [begin, end) on the calling thread. `out` must not overlap the inputs.
void subpixel_conv_tasks(const SubpixelConvArgs& a, const SubpixelConvGeometry& g, int64_t begin,
                         int64_t end);

// Runs the whole op, with OpenMP threads when compiled with OpenMP
// (num_threads <= 0: the OpenMP default).
void subpixel_conv(const SubpixelConvArgs& a, const SubpixelConvGeometry& g,
                   int num_threads = 0);

// Naive reference: one output element at a time from the index formulas, accumulating
// in double. For tests; single-threaded, slow.
void subpixel_conv_naive(const SubpixelConvArgs& a, const SubpixelConvGeometry& g);

// Name of the vector code path the fast kernel picked on this CPU ("avx512", "avx2",
// "generic"), for logs and benchmarks.
const char* subpixel_conv_isa();

// Tests only (not thread-safe: call while no subpixel_conv runs): forces the code path
// "generic", "avx2" or "avx512", or "best" (the run-time choice). Returns false, changing
// nothing, if the name is unknown or this CPU lacks the instructions.
bool subpixel_conv_force_isa(const std::string& name);

}  // namespace falsr::core
