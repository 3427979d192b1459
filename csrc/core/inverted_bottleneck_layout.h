// Internal to inverted_bottleneck*.cpp: the packed weights, the task geometry and the
// per-thread workspace layout that the plan (inverted_bottleneck.cpp) hands to the
// vector kernels (inverted_bottleneck_kernels.h, one instantiation per ISA).
#pragma once

#include <cstdint>

#include "core/inverted_bottleneck.h"

namespace falsr::core::ib {

// Channel counts are padded to this (one AVX-512 vector) in the packed weights and the
// wide row buffers, so every ISA's kernel runs whole vectors with no channel tail.
constexpr int64_t kChannelPad = 16;
// Row buffers get this many spare pixels: kernels run whole blocks of up to
// kMaxPixelBlock pixels past the end of a row (the extra results are never read).
constexpr int64_t kMaxPixelBlock = 24;

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

struct Packed {
  // Expand [ky][kx][ci][wide_pad], project [ky][kx][c][f_pad], depthwise [9][wide_pad];
  // biases padded with zeros (zeros for a null bias).
  const float* expand;
  const float* expand_bias;
  const float* dw;
  const float* dw_bias;
  const float* project;
  const float* project_bias;
};

struct Geometry {
  int64_t f, wide, k, pad;  // pad = k / 2
  int64_t f_pad, wide_pad;
  int64_t band_rows, bands, tile_cols, tiles;
  // Row buffers for a full-width tile (tile_cols output columns), in floats:
  //   x rows  (ring of k): pixels [x0 - 2 pad - 1, x0 + tile + 2 pad + 1), f channels
  //   h1 rows (ring of 3): pixels [x0 - pad - 1, x0 + tile + pad + 1), wide_pad channels
  //   h2 rows (ring of k): pixels [x0 - pad, x0 + tile + pad), wide_pad channels
  //   project result row: tile pixels, f_pad channels
  int64_t x_row, h1_row, h2_row, out_row;
  int64_t workspace;  // all of them
};

inline Geometry make_geometry(const InvertedBottleneckArgs& a, int64_t band_rows,
                              int64_t tile_target) {
  Geometry g{};
  g.f = a.filters;
  g.wide = a.wide;
  g.k = a.kernel;
  g.pad = a.kernel / 2;
  g.f_pad = round_up(g.f, kChannelPad);
  g.wide_pad = round_up(g.wide, kChannelPad);
  g.bands = (a.height + band_rows - 1) / band_rows;
  g.band_rows = (a.height + g.bands - 1) / g.bands;  // even bands
  g.tiles = (a.width + tile_target - 1) / tile_target;
  g.tile_cols = (a.width + g.tiles - 1) / g.tiles;
  const int64_t h2_cols = g.tile_cols + 2 * g.pad;
  const int64_t h1_cols = h2_cols + 2;
  const int64_t x_cols = h1_cols + 2 * g.pad;
  g.x_row = (x_cols + kMaxPixelBlock) * g.f;
  g.h1_row = (h1_cols + kMaxPixelBlock) * g.wide_pad;
  g.h2_row = (h2_cols + kMaxPixelBlock) * g.wide_pad;
  g.out_row = (g.tile_cols + kMaxPixelBlock) * g.f_pad;
  g.workspace = g.k * g.x_row + 3 * g.h1_row + g.k * g.h2_row + g.out_row;
  return g;
}

// The per-ISA task runners (workspace: g.workspace floats, 64-byte aligned).
void run_tasks_generic(const InvertedBottleneckArgs& a, const Packed& p, const Geometry& g,
                       float* workspace, int64_t begin, int64_t end);
#if defined(__x86_64__)
void run_tasks_avx2(const InvertedBottleneckArgs& a, const Packed& p, const Geometry& g,
                    float* workspace, int64_t begin, int64_t end);
void run_tasks_avx512(const InvertedBottleneckArgs& a, const Packed& p, const Geometry& g,
                      float* workspace, int64_t begin, int64_t end);
#endif

}  // namespace falsr::core::ib
