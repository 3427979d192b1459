// Internals of the small-groups cell_conv path (cell_conv_grouped.cpp): the packed
// geometry its per-ISA row kernels read. Not part of the public interface.
//
// Vectors run across output channels of all groups at once: with G groups dividing the
// L lanes, lane l belongs to group l % G and holds output channel
//   (l % G) * cout_g + b * Q + l / G        (Q = L / G lanes per group, block b < nb)
// so the input each lane needs at step j (input channel (l % G) * cin_g + j) is lane
// l % G of the G values at j * G of a "reordered" row, where pixel x holds
//   R[x][j * G + g] = input channel g * cin_g + j
// and one broadcast load of those G values feeds a whole vector: k * k * cin_g FMAs per
// L outputs, no multiply spent off the block diagonal. The lanes are put back in channel
// order when the tile is stored.
//
// With bf16 dot products (all inputs bf16, avx512_bf16) a step is a pair of input
// channels (2j, 2j + 1) in one 32-bit element (the odd channel's partner zero), so the
// row and the weights hold bf16 pairs where the fp32 version holds floats.
#pragma once

#include <cstdint>

#include "core/cell_conv.h"

namespace falsr::core::grouped {

struct Geometry {
  int64_t cin = 0, cout = 0, groups = 0, cin_g = 0, cout_g = 0;
  int64_t k = 1, pad = 0, taps = 1;
  int lanes = 0;                // L
  int64_t q = 0, blocks = 0;    // Q lanes per group per block; nb blocks
  int64_t steps = 0;            // J: cin_g, or its pairs with dot products
  int64_t rs = 0;               // 32-bit elements per pixel of a reordered row: J * G
  bool dot = false;             // bf16 pairs (vdpbf16ps)
  bool channel_order = false;   // nb == 1 and Q == cout_g: permuting the lanes by perm
                                // gives channels 0..L-1 in order
  bool relu = false;
  const float* weight = nullptr;   // [b][tap][j][L] (floats, or bf16 pairs as 32 bits)
  const float* bias = nullptr;     // [b][L], in lane order
  const int32_t* perm = nullptr;   // [L]: lane i of channel order = lane perm[i]
  const int32_t* chan = nullptr;   // [b][L]: output channel of each lane, -1 for none
};

// Computes output row y of image n from the k reordered rows y - pad + ky (each with
// pad zero pixels on both sides), through tile: an fp32 [tile_pixels][cout] scratch.
using RowKernel = void (*)(const Geometry& g, const CellConvArgs& a, int64_t n, int64_t y,
                           const float* const* rows, float* tile);
// Pixels per tile of the row kernel (its scratch is tile_pixels * cout floats).
constexpr int64_t kTilePixels = 16;

// Null where not compiled (non-x86) or no kernel for these groups (G must divide L).
RowKernel row_kernel_generic(int64_t groups);
RowKernel row_kernel_avx2(int64_t groups);
RowKernel row_kernel_avx512(int64_t groups);
RowKernel row_kernel_avx512_bf16(int64_t groups);  // dot products

// Reorders `pixels` pixels of 32-bit elements (floats, or bf16 pairs) from group-major
// (src[x * sstride + g * J + j]) to the row layout (dst[x * J * G + j * G + g]).
using Reorder = void (*)(const float* src, int64_t sstride, int64_t pixels, int64_t J,
                         float* dst);
// AVX-512: pixels of <= 32 elements for any G, wider ones for G = 2 or 4; else null.
Reorder reorder_kernel_avx512(int64_t groups, int64_t steps);
void reorder_scalar(const float* src, int64_t sstride, int64_t pixels, int64_t J, int64_t G,
                    float* dst);

}  // namespace falsr::core::grouped
