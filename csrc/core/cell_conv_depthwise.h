// Internals of the depthwise cell_conv path (cell_conv_depthwise.cpp): what the plan
// hands to its per-ISA kernels. Not part of the public interface.
//
// Depthwise (groups == Cin == Cout) is memory bound, so the kernel reads the planes in
// place (no gathered rows), vectors across channels: one block of <= L channels of one
// plane (a channel never straddles planes), R (up to 3) output rows at a time, the k x k
// window of input vectors kept in registers as it slides along the row, so each input
// vector is loaded (and widened from bf16) once per R rows and each output written once.
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/cell_conv.h"

namespace falsr::core::depthwise {

// One block of channels over R output rows, columns [x0, x1). An input row out of the image is given as
// a pointer to zeros with stride 0 (no border tests in the inner loop); the columns
// outside the row are zero by construction of the sliding window.
struct Rows {
  const void* in[5] = {};          // element (x = 0, first channel of the block), rows y - pad ..
  int64_t in_stride[5] = {};       // elements between pixels (0: a zero row)
  DType in_dtype = DType::F32;
  const float* w = nullptr;        // [tap][L] fp32, the block's packed weights
  const float* bias = nullptr;     // [L] fp32 (zeros where there is none)
  void* out[3] = {};               // element (x = 0, first channel) of output rows y, y + 1, ..
  DType out_dtype = DType::F32;
  int64_t out_stride = 0;
  const void* res[3] = {};         // null: no residual
  DType res_dtype = DType::F32;
  int64_t res_stride = 0;
  int64_t width = 0;
  int64_t x0 = 0, x1 = 0;          // the columns to compute, [x0, x1)
  int lanes = 0;                   // live channels of the block (<= L)
  int rows = 1;                    // R: 1 .. max_rows
  int k = 3;
  bool relu = false;
  bool stream = false;             // fp32 output, every lane live, out[r] and out_stride
                                   // aligned to the vector: non-temporal stores
};

using Kernel = void (*)(const Rows& r);

struct Kernels {
  Kernel run = nullptr;
  int lanes = 0;     // L
  int max_rows = 2;  // R at most
  void (*fence)() = nullptr;  // orders streamed stores (null: the ISA never streams)
};
Kernels kernels_generic();
Kernels kernels_avx2();    // run null when not compiled for x86-64 with GCC / Clang
Kernels kernels_avx512();  // run null when not compiled for x86-64 with GCC / Clang

}  // namespace falsr::core::depthwise
