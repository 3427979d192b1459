// Analytic cost counter of a FALSR-space network: parameters, conv multiply-accumulates
// (MACs) and bytes of activations written, per layer, per cell and in total, from the
// genotype alone (no torch, no Python, no allocation in the batch path).
//
// ---------------------------------------------------------------- genotype encoding
// One genotype = one row of int64, length 6*C + 2 (C = number of cells, 1..62):
//
//   row = [ C,
//           block_0, kernel_0, filters_0, blocks_0, skip_0, input_mask_0,     (cell 0)
//           ...
//           block_{C-1}, ..., input_mask_{C-1},                              (cell C-1)
//           fusion_mask ]
//
//   block       0 conv, 1 ib (inverted bottleneck, expansion 2), 2 g2, 3 g4 (grouped conv,
//               2 / 4 groups) -- falsr_ext.space.BLOCK_TYPES in order
//   kernel      1 or 3 (kernel of the cell's convs; the ib depthwise conv is always 3x3)
//   filters     16, 32, 48 or 64 (output channels of the cell)
//   blocks      1, 2 or 4 (layers of a conv/g2/g4 cell, bottleneck blocks of an ib cell)
//   skip        0 or 1 (the official isskip flag; it only acts when blocks > 1)
//   input_mask  bit n set = wiring node n is an input of cell i; node 0 = F (the feature
//               extractor, 32 channels), node j+1 = output of cell j. Non-empty and only
//               nodes 0..i (earlier nodes). The input is the concat in increasing node order.
//   fusion_mask the nodes concatenated into the fusion conv: non-empty, nodes 0..C.
//
// The network (falsr_ext/models/falsr_net.py, cells.py; every conv: bias, stride 1, SAME):
//   F = ReLU(conv3x3 in->32); cells; fuse = ReLU(conv3x3 concat->32) + F;
//   scale 3/4 only: pre_shuffle = conv3x3 32 -> 8*s*s; shuffle (x s) to 8 channels at
//   sH x sW; reconstruction = conv3x3 8 -> in_channels at sH x sW.
//   conv/g2/g4 cell: b layers ReLU(kxk conv, groups G), first Cin->f, then f->f; output =
//     first + last when skip and b > 1, else last.
//   ib cell: s = 1x1 conv Cin->f; z = s; b times z = z + [kxk f->2f, ReLU, dw3x3 on 2f,
//     ReLU, kxk 2f->f]; output = s + z when skip and b > 1, else z.
//
// ---------------------------------------------------------------- counting convention
// params    = conv weights + biases.
// MACs      = multiply-accumulates of the conv layers only (bias, ReLU, add, concat and
//             shuffle not counted), full k*k*Cin/G per output element (zero-padding
//             borders ignored: the papers' convention), at the given LR input H x W (the
//             reconstruction conv runs at sH x sW).
// act_bytes = bytes of the tensors a plain eager execution writes: every conv output
//             (bias + ReLU counted as part of the conv: one write), every explicit
//             residual add (conv-cell skip add, ib per-block add, ib skip add, fusion + F
//             add), every materialised concat of 2+ nodes (each cell's / the fusion's input;
//             a single-node input is not copied), the shuffle output; times dtype_bytes.
//             The network input is not counted (it is not written by the network).
//
// Cost entries ("cells") of count_layers, in order: F, cell0 .. cell{C-1}, fusion,
// pre_shuffle (only when scale != 2), reconstruction (the shuffle output + the final conv).
// A concat is charged to the cell (or fusion) that reads it, the F add to fusion.
// count_batch's per-cell columns (C + 3): F, cell0 .. cell{C-1}, fusion, upsample
// (= pre_shuffle + reconstruction; equals reconstruction at scale 2).
//
// Errors: every bad argument throws std::invalid_argument whose message names the field,
// e.g. "cells[3].kernel: 5 is not in the search space [1, 3]" (count_batch prefixes
// "genotype <row index>: ").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace falsr::core {

inline constexpr int64_t kBlockConv = 0;
inline constexpr int64_t kBlockIb = 1;
inline constexpr int64_t kBlockG2 = 2;
inline constexpr int64_t kBlockG4 = 3;
inline constexpr int64_t kCellFields = 6;         // values per cell in a row
inline constexpr int64_t kMaxCells = 62;          // masks are int64 bit sets of C + 1 nodes
inline constexpr int64_t kFeatureChannels = 32;   // F and fusion conv outputs
inline constexpr int64_t kHrChannels = 8;         // channels after the shuffle
inline constexpr int64_t kIbExpansion = 2;
inline constexpr int64_t kMinSize = 3;            // the frame's convs are 3x3
inline constexpr int64_t kMaxInChannels = 4096;   // keeps per-pixel sums far from overflow
inline constexpr int64_t kMaxDtypeBytes = 16;

// Length of a row holding `num_cells` cells: 6 * num_cells + 2.
int64_t genotype_row_len(int64_t num_cells);

// Number of cells of rows of length `row_len`; throws unless row_len = 6*C + 2, 1 <= C <= 62.
int64_t genotype_num_cells(int64_t row_len);

// Throws std::invalid_argument unless height, width >= 3, scale in {2, 3, 4},
// 1 <= in_channels <= 4096, 1 <= dtype_bytes <= 16 and H*W*s*s fits comfortably in int64.
void check_count_config(int64_t height, int64_t width, int64_t scale, int64_t in_channels,
                        int64_t dtype_bytes);

// One conv layer of the network.
struct LayerRecord {
  std::string name;   // "F.conv", "cell2.layer1", "cell2.reduce", "cell2.block1.expand",
                      // ".depthwise", ".project", "fusion.conv", "pre_shuffle.conv",
                      // "reconstruction.conv"
  int64_t entry;      // index into LayerCounts::cells of the entry the layer belongs to
  int64_t c_in, c_out, kernel, groups;
  int64_t height, width;  // output size (LR, or sH x sW for the reconstruction conv)
  int64_t params, macs;
  int64_t act_bytes;  // bytes of this conv's output
};

// Totals of one entry (F, a cell, fusion, pre_shuffle, reconstruction).
struct CellTotal {
  std::string name;
  int64_t params, macs, act_bytes;  // act_bytes includes concat/add/shuffle writes
};

struct LayerCounts {
  std::vector<LayerRecord> layers;  // conv layers in module order (head, cells, fusion, ...)
  std::vector<CellTotal> cells;     // entries, see above
  int64_t params = 0, macs = 0, act_bytes = 0;
};

// Counts one genotype row (row_len values) layer by layer. Validates everything.
LayerCounts count_layers(const int64_t* row, int64_t row_len, int64_t height, int64_t width,
                         int64_t scale, int64_t in_channels, int64_t dtype_bytes);

// Counts n genotypes (rows: n x row_len, row-major) into params_out[n], macs_out[n],
// act_bytes_out[n] and, when non-null, cell_macs_out / cell_params_out [n, C + 3]
// (columns F, cell0 .. cell{C-1}, fusion, upsample). Pure integer arithmetic, no
// allocation; single-threaded. Validates every row (error message prefixed with
// "genotype <index>: "); outputs of rows before a bad one are written, later ones not.
void count_batch(const int64_t* rows, int64_t n, int64_t row_len, int64_t height, int64_t width,
                 int64_t scale, int64_t in_channels, int64_t dtype_bytes, int64_t* params_out,
                 int64_t* macs_out, int64_t* act_bytes_out, int64_t* cell_macs_out,
                 int64_t* cell_params_out);

}  // namespace falsr::core
