// Internals of the avx512_bf16 cell_conv path (cell_conv_bf16*.cpp): the packed geometry
// the plan hands to its row kernel. Not part of the public interface.
//
// vdpbf16ps multiplies bf16 pairs: lane c of the fp32 accumulator gets
//   a[2c] * b[2c] + a[2c + 1] * b[2c + 1]
// so the input channels run in pairs (ci, ci + 1) and the weights are packed, bf16,
// 64-byte aligned, as [tap][pair < cin_pairs][coutp][2] (coutp = cout rounded up to 16,
// padding and the odd channel's partner zero): 16 output channels of one pair are one
// 64-byte vector, and one 32-bit broadcast of an input pair feeds all 16 lanes.
// Grouped convs are packed as one block-diagonal dense conv (zeros off the diagonal).
// Packed bias: [coutp] fp32, zeros where there is no bias.
#pragma once

#include <cstdint>

#include "core/cell_conv.h"

namespace falsr::core::bf16conv {

struct Geometry {
  int64_t cin = 0, cout = 0;
  int64_t k = 1, pad = 0, taps = 1;
  int64_t cin_pairs = 0;        // ceil(cin / 2)
  int64_t coutp = 0;            // cout rounded up to 16
  int64_t cstride = 0;          // bf16 per pixel of a gathered row: 2 * cin_pairs
  bool relu = false;
  bool read_in_place = false;   // k == 1 and every plane has an even channel count
  const uint16_t* weight = nullptr;  // packed
  const float* bias = nullptr;       // packed
};

// One input run: `pairs` channel pairs at src + x * pstride + 2 * p (bf16 elements) for
// pixel x, multiplied by weights w + p * 2 * coutp (the cout block offset is added by the
// kernel). pstride may be odd (a plane read in place): pairs are loaded unaligned.
struct Segment {
  const uint16_t* src = nullptr;
  int64_t pstride = 0;
  int64_t pairs = 0;
  const uint16_t* w = nullptr;
};

// Segments of a row (one per tap or plane) plus the chunks of one pass.
inline int64_t segment_scratch(int64_t taps, int64_t planes) {
  return 2 * (taps > planes ? taps : planes);
}
// fp32 partial sums between passes: [x][64].
inline int64_t acc_scratch(int64_t width) { return width * 64; }

// Computes output row y of image n. rows[ky] (ky < k) are the gathered bf16 input rows
// y - pad + ky (window_row_elems(width, pad, cstride) each), or null when read_in_place.
// segs: segment_scratch() entries; acc: acc_scratch() floats, 64-byte aligned.
using RowKernel = void (*)(const Geometry& g, const CellConvArgs& a, int64_t n, int64_t y,
                           const uint16_t* const* rows, Segment* segs, float* acc);

// The AVX-512 BF16 row kernel (cell_conv_bf16_kernel.cpp); null when not compiled for
// x86-64 with GCC / Clang.
RowKernel row_kernel_avx512_bf16();

}  // namespace falsr::core::bf16conv
