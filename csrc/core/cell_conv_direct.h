// Internals of the direct cell_conv path (cell_conv_direct*.cpp): the packed geometry
// a plan hands to its per-ISA row kernels. Not part of the public interface.
//
// Packed weights (fp32, 64-byte aligned):
//   dense/grouped  [group][tap][ci < cin_g][coutp]   coutp = cout_g rounded up to 16,
//                  padding zero; a grouped conv with small groups is packed as one
//                  block-diagonal dense group (zeros off the diagonal) when that costs
//                  no more multiplies (whole 16-lane vectors either way).
//   spread         [tap][j < cin_g][coutp]   (depthwise: cin_g = 1, coutp = cstride)
// Packed bias: [group][coutp], zeros where there is no bias.
//
// "Spread" convs (depthwise, and grouped convs whose groups are narrower than a vector)
// run with vectors across output channels: lane c of a vector multiplies input channel
// (c / cout_g) * cin_g + j. Their rows hold, per pixel, cin_g vectors of coutp lanes with
// those inputs already in place (sstride floats per pixel); for depthwise that is the
// gathered row itself, otherwise spread_row builds it from the gathered row.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/cell_conv.h"

namespace falsr::core::direct {

struct Geometry {
  int64_t cin = 0, cout = 0;
  int64_t k = 1, pad = 0, taps = 1;
  int64_t groups = 1;           // groups of the packed weight
  int64_t cin_g = 0, cout_g = 0;  // channels per packed group
  int64_t coutp = 0;            // cout_g rounded up to 16
  int64_t cstride = 0;          // channel stride of a gathered row: cin rounded up to 16
  bool spread = false;          // vectors across output channels (see above)
  bool spread_copy = false;     // spread rows are built by spread_row (not depthwise)
  int64_t sstride = 0;          // floats per pixel of a spread row: cin_g * coutp
  bool relu = false;
  bool read_in_place = false;   // k == 1 and all inputs fp32: no gathered rows
  const float* weight = nullptr;  // packed
  const float* bias = nullptr;    // packed
};

// One input run of the dense kernel: `cin` channels at src + x * pstride + ci for pixel
// x, multiplied by weights w + ci * coutp (the cout block offset is added by the kernel).
struct Segment {
  const float* src = nullptr;
  int64_t pstride = 0;
  int64_t cin = 0;
  const float* w = nullptr;
};

// Computes output row y of image n. rows[ky] (ky < k) are the gathered input rows
// y - pad + ky (window_row_elems(width, pad, cstride) floats each; spread rows when
// spread_copy), or null when read_in_place. segs: scratch for segment_scratch() segments; acc: scratch for
// acc_scratch() floats (partial sums between passes), 64-byte aligned.
using RowKernel = void (*)(const Geometry& g, const CellConvArgs& a, int64_t n, int64_t y,
                           const float* const* rows, Segment* segs, float* acc);

// The segments of a row (one per tap or input plane) plus the chunks of one pass (a
// pass takes at most one chunk of each segment).
inline int64_t segment_scratch(int64_t taps, int64_t planes) {
  return 2 * std::max(taps, planes);
}
inline int64_t acc_scratch(int64_t width) { return width * 64; }

// Builds `pixels` pixels of a spread row from a gathered row (both with borders).
using SpreadKernel = void (*)(const Geometry& g, const float* gathered, int64_t pixels,
                              float* spread);

// Lanes per vector of each kernel set: a spread conv needs every vector's inputs within
// one vector of the gathered row (spread_fits).
struct Kernels {
  RowKernel row = nullptr;
  SpreadKernel spread = nullptr;
  int lanes = 0;
};
Kernels kernels_generic();
Kernels kernels_avx2();    // row null when not compiled for x86
Kernels kernels_avx512();  // row null when not compiled for x86

// Whether every block of `lanes` output channels reads input channels within `lanes`
// consecutive channels that start at a group boundary and end inside cstride.
inline bool spread_fits(int64_t cin, int64_t cout, int64_t groups, int64_t cstride,
                        int64_t lanes) {
  const int64_t cin_g = cin / groups, cout_g = cout / groups;
  for (int64_t c0 = 0; c0 < cout; c0 += lanes) {
    const int64_t g0 = c0 / cout_g;
    const int64_t g1 = (std::min(c0 + lanes, cout) - 1) / cout_g;
    if ((g1 - g0 + 1) * cin_g > lanes || g0 * cin_g + lanes > cstride) return false;
  }
  return true;
}

}  // namespace falsr::core::direct
