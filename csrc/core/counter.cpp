// Analytic cost counter (see counter.h for the encoding and the counting convention).
//
// The network is described once, by the walk_* functions below, which report every conv
// layer (sink.conv) and every other tensor written (sink.write: concat, adds, shuffle)
// to a sink, in execution order:
//  - count_layers walks a genotype with RecordSink: named per-layer records, per-entry
//    totals (checked arithmetic).
//  - count_batch never walks a genotype: everything in the network is a multiple of H*W
//    (the reconstruction conv runs on s*s*H*W pixels) and a cell's cost is affine in its
//    input channels, so per call it walks each of the 192 possible cells (block, k, f, b,
//    skip) and the frame with CoefSink into small tables of per-LR-pixel coefficients;
//    per genotype it then only does table look-ups, multiply-adds and one multiply by
//    H*W. No allocation, no strings, no per-layer work.
// Validation is a cheap branch per cell; the detailed message is built only on failure.
#include "core/counter.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/shapes.h"

namespace falsr::core {
namespace {

enum class LayerKind {
  kHead,
  kCellLayer,
  kIbReduce,
  kIbExpand,
  kIbDepthwise,
  kIbProject,
  kFusion,
  kPreShuffle,
  kReconstruction,
};

// One conv as the walker reports it. `entry`: 0 = F, i + 1 = cell i, C + 1 = fusion,
// C + 2 = pre_shuffle, C + 3 = reconstruction. `px_mult`: output pixels per LR pixel.
struct ConvDesc {
  LayerKind kind;
  int64_t entry;
  int64_t cell;   // cell index (-1 outside cells)
  int64_t index;  // layer / block index inside the cell
  int64_t c_in, c_out, kernel, groups, px_mult;
};

inline int ctz64(uint64_t m) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_ctzll(m);
#else
  int n = 0;
  while ((m & 1u) == 0) {
    m >>= 1;
    ++n;
  }
  return n;
#endif
}

inline bool mul_overflows(int64_t a, int64_t b, int64_t* out) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_mul_overflow(a, b, out);
#else
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) {
    return true;
  }
  *out = a * b;
  return false;
#endif
}

std::string node_name(int64_t node) {
  return node == 0 ? std::string("F") : "c" + std::to_string(node - 1);
}

// "F, c0, ..., c{limit-2}": the nodes a mask may reference when it may use nodes < limit.
std::string allowed_nodes(int64_t limit) {
  if (limit == 1) {
    return "F";
  }
  return "F, c0" + (limit > 2 ? std::string("..") + node_name(limit - 1) : std::string());
}

std::string hex(uint64_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), digits[v & 15u]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

[[noreturn]] void fail_mask(const std::string& where, int64_t mask, int64_t limit) {
  const auto m = static_cast<uint64_t>(mask);
  if (m == 0) {
    fail_invalid(where + ": empty input mask (must list at least one node, allowed " +
                 allowed_nodes(limit) + ")");
  }
  int high = 63;
  while (((m >> high) & 1u) == 0) {
    --high;
  }
  fail_invalid(where + ": mask " + hex(m) + " references node " + std::to_string(high) + " (" +
               node_name(high) + "), not an earlier node (allowed " + allowed_nodes(limit) +
               ")");
}

inline bool mask_ok(int64_t mask, int64_t limit) {
  const auto m = static_cast<uint64_t>(mask);
  return m != 0 && (m >> limit) == 0;  // limit <= 63
}

inline bool cell_ok(const int64_t* c, int64_t i) {
  const int64_t k = c[1], f = c[2], b = c[3];
  return static_cast<uint64_t>(c[0]) <= 3u && (k == 1 || k == 3) &&
         (f == 16 || f == 32 || f == 48 || f == 64) && (b == 1 || b == 2 || b == 4) &&
         static_cast<uint64_t>(c[4]) <= 1u && mask_ok(c[5], i + 1);
}

// Cold path: the detailed message for the first bad field of cell i.
[[noreturn]] void fail_cell(const int64_t* c, int64_t i) {
  const std::string where = "cells[" + std::to_string(i) + "]";
  if (static_cast<uint64_t>(c[0]) > 3u) {
    fail_invalid(where + ".block: " + std::to_string(c[0]) +
                 " is not a block id (0 conv, 1 ib, 2 g2, 3 g4)");
  }
  if (c[1] != 1 && c[1] != 3) {
    fail_invalid(where + ".kernel: " + std::to_string(c[1]) +
                 " is not in the search space [1, 3]");
  }
  if (c[2] != 16 && c[2] != 32 && c[2] != 48 && c[2] != 64) {
    fail_invalid(where + ".filters: " + std::to_string(c[2]) +
                 " is not in the search space [16, 32, 48, 64]");
  }
  if (c[3] != 1 && c[3] != 2 && c[3] != 4) {
    fail_invalid(where + ".blocks: " + std::to_string(c[3]) +
                 " is not in the search space [1, 2, 4]");
  }
  if (static_cast<uint64_t>(c[4]) > 1u) {
    fail_invalid(where + ".skip: " + std::to_string(c[4]) + " is not 0 or 1");
  }
  fail_mask(where + ".input_mask", c[5], i + 1);
}

inline int64_t mask_channels(uint64_t m, const int64_t* node_ch) {
  int64_t ch = 0;
  while (m != 0) {
    ch += node_ch[ctz64(m)];
    m &= m - 1;
  }
  return ch;
}

// Same sum with a fixed trip count (no data-dependent branch; the hot loop's choice).
inline int64_t mask_channels_fixed(uint64_t m, const int64_t* node_ch, int64_t nodes) {
  int64_t ch = 0;
  for (int64_t n = 0; n < nodes; ++n) {
    ch += node_ch[n] & -static_cast<int64_t>((m >> n) & 1u);
  }
  return ch;
}

inline bool is_concat(uint64_t m) { return (m & (m - 1)) != 0; }  // 2+ nodes

// Groups of a cell's main convs, by block id: conv 1, ib 1 (its depthwise conv is
// separate), g2 2, g4 4. Channel counts are multiples of 16 (filters) and 32 (F), so
// every grouped conv divides evenly.
constexpr int64_t kGroups[4] = {1, 1, 2, 4};

inline int64_t conv_weights(const ConvDesc& d) {
  return d.kernel * d.kernel * (d.c_in / d.groups) * d.c_out;
}

// ------------------------------------------------------------- the network, once
// Entries: 0 = F, i + 1 = cell i, C + 1 = fusion, C + 2 = pre_shuffle, C + 3 = reconstruction.

template <class Sink>
void walk_head(Sink& sink, int64_t in_ch) {
  sink.conv(ConvDesc{LayerKind::kHead, 0, -1, 0, in_ch, kFeatureChannels, 3, 1, 1});
}

// Cell i (fields already validated) reading `cin` channels; `concat`: the input is a
// concat of 2+ nodes (materialised, so written).
template <class Sink>
void walk_cell(Sink& sink, int64_t i, int64_t block, int64_t k, int64_t f, int64_t b,
               bool skip, int64_t cin, bool concat) {
  const int64_t e = i + 1;
  if (concat) {
    sink.write(e, cin);
  }
  if (block == kBlockIb) {
    const int64_t wide = f * kIbExpansion;
    sink.conv(ConvDesc{LayerKind::kIbReduce, e, i, 0, cin, f, 1, 1, 1});
    for (int64_t j = 0; j < b; ++j) {
      sink.conv(ConvDesc{LayerKind::kIbExpand, e, i, j, f, wide, k, 1, 1});
      sink.conv(ConvDesc{LayerKind::kIbDepthwise, e, i, j, wide, wide, 3, wide, 1});
      sink.conv(ConvDesc{LayerKind::kIbProject, e, i, j, wide, f, k, 1, 1});
      sink.write(e, f);  // z = z + block(z)
    }
  } else {
    const int64_t g = kGroups[block];
    for (int64_t j = 0; j < b; ++j) {  // layer 0: cin -> f, then f -> f
      sink.conv(ConvDesc{LayerKind::kCellLayer, e, i, j, j == 0 ? cin : f, f, k, g, 1});
    }
  }
  if (skip && b > 1) {
    sink.write(e, f);  // first + last, or s + z
  }
}

template <class Sink>
void walk_fusion(Sink& sink, int64_t C, int64_t fin, bool concat) {
  if (concat) {
    sink.write(C + 1, fin);
  }
  sink.conv(ConvDesc{LayerKind::kFusion, C + 1, -1, 0, fin, kFeatureChannels, 3, 1, 1});
  sink.write(C + 1, kFeatureChannels);  // + F
}

template <class Sink>
void walk_upsample(Sink& sink, int64_t C, int64_t s, int64_t in_ch) {
  const int64_t ss = s * s;
  if (s != 2) {
    sink.conv(ConvDesc{LayerKind::kPreShuffle, C + 2, -1, 0, kFeatureChannels, kHrChannels * ss,
                       3, 1, 1});
  }
  sink.write(C + 3, kHrChannels * ss);  // shuffle output (8 channels at sH x sW)
  sink.conv(ConvDesc{LayerKind::kReconstruction, C + 3, -1, 0, kHrChannels, in_ch, 3, 1, ss});
}

// A whole genotype (row length already checked, num_cells == C), validating each field.
template <class Sink>
void walk_genotype(const int64_t* row, int64_t C, int64_t s, int64_t in_ch, Sink& sink) {
  int64_t node_ch[kMaxCells + 1];
  node_ch[0] = kFeatureChannels;
  walk_head(sink, in_ch);
  for (int64_t i = 0; i < C; ++i) {
    const int64_t* c = row + 1 + kCellFields * i;
    if (!cell_ok(c, i)) {
      fail_cell(c, i);
    }
    const auto m = static_cast<uint64_t>(c[5]);
    walk_cell(sink, i, c[0], c[1], c[2], c[3], c[4] != 0, mask_channels(m, node_ch),
              is_concat(m));
    node_ch[i + 1] = c[2];
  }
  const int64_t fusion_mask = row[1 + kCellFields * C];
  if (!mask_ok(fusion_mask, C + 1)) {
    fail_mask("fusion_mask", fusion_mask, C + 1);
  }
  const auto fm = static_cast<uint64_t>(fusion_mask);
  walk_fusion(sink, C, mask_channels(fm, node_ch), is_concat(fm));
  walk_upsample(sink, C, s, in_ch);
}

// ---------------------------------------------------------------- batch tables
// Per-LR-pixel sums of whatever is walked (params, MACs, activation elements).
struct CoefSink {
  int64_t params = 0, macs_px = 0, act_px = 0;
  void conv(const ConvDesc& d) {
    const int64_t w = conv_weights(d);
    params += w + d.c_out;
    macs_px += w * d.px_mult;
    act_px += d.c_out * d.px_mult;
  }
  void write(int64_t /*entry*/, int64_t elems_px) { act_px += elems_px; }
};

// Cost of a stage as an affine function of its input channels x (no concat write):
// params = params0 + slope * x, MACs per LR pixel = macs0 + slope * x, act = act0.
struct Affine {
  int64_t params0, macs0, act0, slope;
};

template <class Walk>
Affine affine_of(Walk&& walk) {
  // Input channels are multiples of 4, so grouped convs are exactly linear in x.
  CoefSink zero, four;
  walk(zero, int64_t{0});
  walk(four, int64_t{4});
  const int64_t slope = (four.params - zero.params) / 4;
  if (four.macs_px - zero.macs_px != 4 * slope || four.act_px != zero.act_px) {
    fail_invalid("internal error: stage cost not affine in its input channels");
  }
  return Affine{zero.params, zero.macs_px, zero.act_px, slope};
}

constexpr int kCellKinds = 4 * 2 * 4 * 3 * 2;  // block, kernel, filters, blocks, skip

// Index of a validated cell's micro choice in the cell table.
inline int64_t cell_kind(const int64_t* c) {
  // kernel 1/3 -> 0/1; filters 16..64 -> 0..3; blocks 1/2/4 -> 0/1/2.
  return (((c[0] * 2 + (c[1] >> 1)) * 4 + ((c[2] >> 4) - 1)) * 3 + (c[3] >> 1)) * 2 + c[4];
}

struct CellTable {
  Affine cell[kCellKinds];
  CellTable() {
    const int64_t ks[] = {1, 3}, fs[] = {16, 32, 48, 64}, bs[] = {1, 2, 4};
    for (int64_t block = 0; block < 4; ++block) {
      for (int64_t k : ks) {
        for (int64_t f : fs) {
          for (int64_t b : bs) {
            for (int64_t skip = 0; skip < 2; ++skip) {
              const int64_t c[] = {block, k, f, b, skip};
              cell[cell_kind(c)] = affine_of([&](CoefSink& sink, int64_t x) {
                walk_cell(sink, 0, block, k, f, b, skip != 0, x, false);
              });
            }
          }
        }
      }
    }
  }
};

const CellTable& cell_table() {
  static const CellTable table;  // built once (thread-safe), ~200 tiny walks
  return table;
}

[[noreturn]] void fail_overflow(const char* what, int64_t h, int64_t w) {
  fail_invalid(std::string(what) + " overflows int64 at " + std::to_string(h) + " x " +
               std::to_string(w));
}

inline int64_t times_hw(int64_t px, int64_t hw, const char* what, int64_t h, int64_t w) {
  int64_t out = 0;
  if (mul_overflows(px, hw, &out)) {
    fail_overflow(what, h, w);
  }
  return out;
}

template <bool PerCell>
void count_rows(const int64_t* rows, int64_t n, int64_t row_len, int64_t C, int64_t h, int64_t w,
                int64_t s, int64_t in_ch, int64_t dtype_bytes, int64_t* params_out,
                int64_t* macs_out, int64_t* act_bytes_out, int64_t* cell_macs_out,
                int64_t* cell_params_out) {
  const int64_t hw = h * w;  // fits: checked by check_count_config
  const CellTable& table = cell_table();
  CoefSink head, up;
  walk_head(head, in_ch);
  walk_upsample(up, C, s, in_ch);
  const Affine fusion =
      affine_of([&](CoefSink& sink, int64_t x) { walk_fusion(sink, C, x, false); });
  const int64_t frame_params = head.params + up.params + fusion.params0;
  const int64_t frame_macs = head.macs_px + up.macs_px + fusion.macs0;
  const int64_t frame_act = head.act_px + up.act_px + fusion.act0;
  const int64_t cols = C + 3;

  for (int64_t g = 0; g < n; ++g) {
    const int64_t* row = rows + g * row_len;
    try {
      if (row[0] != C) {
        fail_invalid("num_cells: " + std::to_string(row[0]) + " but the row length " +
                     std::to_string(row_len) + " holds " + std::to_string(C) +
                     " cells (all rows of a batch have the same number of cells)");
      }
      int64_t node_ch[kMaxCells + 1];
      node_ch[0] = kFeatureChannels;
      int64_t params = frame_params, macs_px = frame_macs, act_px = frame_act;
      int64_t* cm = PerCell && cell_macs_out != nullptr ? cell_macs_out + g * cols : nullptr;
      int64_t* cp = PerCell && cell_params_out != nullptr ? cell_params_out + g * cols : nullptr;
      for (int64_t i = 0; i < C; ++i) {
        const int64_t* c = row + 1 + kCellFields * i;
        if (!cell_ok(c, i)) {
          fail_cell(c, i);
        }
        const auto m = static_cast<uint64_t>(c[5]);
        const int64_t cin = mask_channels_fixed(m, node_ch, i + 1);
        const Affine& a = table.cell[cell_kind(c)];
        const int64_t p = a.params0 + a.slope * cin;
        const int64_t mc = a.macs0 + a.slope * cin;
        params += p;
        macs_px += mc;
        act_px += a.act0 + cin * static_cast<int64_t>(is_concat(m));
        node_ch[i + 1] = c[2];
        if (PerCell) {
          if (cm != nullptr) {
            cm[i + 1] = times_hw(mc, hw, "MACs", h, w);
          }
          if (cp != nullptr) {
            cp[i + 1] = p;
          }
        }
      }
      const int64_t fusion_mask = row[1 + kCellFields * C];
      if (!mask_ok(fusion_mask, C + 1)) {
        fail_mask("fusion_mask", fusion_mask, C + 1);
      }
      const auto fm = static_cast<uint64_t>(fusion_mask);
      const int64_t fin = mask_channels_fixed(fm, node_ch, C + 1);
      params += fusion.slope * fin;
      macs_px += fusion.slope * fin;
      act_px += fin * static_cast<int64_t>(is_concat(fm));

      const int64_t macs = times_hw(macs_px, hw, "MACs", h, w);
      int64_t act = times_hw(act_px, hw, "act_bytes", h, w);
      if (mul_overflows(act, dtype_bytes, &act)) {
        fail_overflow("act_bytes", h, w);
      }
      params_out[g] = params;
      macs_out[g] = macs;
      act_bytes_out[g] = act;
      if (PerCell) {
        const int64_t fusion_macs = fusion.macs0 + fusion.slope * fin;
        if (cm != nullptr) {
          cm[0] = times_hw(head.macs_px, hw, "MACs", h, w);
          cm[C + 1] = times_hw(fusion_macs, hw, "MACs", h, w);
          cm[C + 2] = times_hw(up.macs_px, hw, "MACs", h, w);
        }
        if (cp != nullptr) {
          cp[0] = head.params;
          cp[C + 1] = fusion.params0 + fusion.slope * fin;
          cp[C + 2] = up.params;
        }
      }
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("genotype " + std::to_string(g) + ": " + e.what());
    }
  }
}

struct RecordSink {
  LayerCounts* out;
  int64_t num_cells, hw, h, w, s, dtype_bytes;
  int64_t pre_entry;    // index of pre_shuffle in out->cells (-1 at scale 2)
  int64_t recon_entry;  // index of reconstruction in out->cells

  int64_t entry_index(int64_t entry) const {
    if (entry == num_cells + 2) {
      return pre_entry;
    }
    return entry == num_cells + 3 ? recon_entry : entry;
  }

  static std::string layer_name(const ConvDesc& d) {
    switch (d.kind) {
      case LayerKind::kHead:
        return "F.conv";
      case LayerKind::kFusion:
        return "fusion.conv";
      case LayerKind::kPreShuffle:
        return "pre_shuffle.conv";
      case LayerKind::kReconstruction:
        return "reconstruction.conv";
      default:
        break;
    }
    std::string name = "cell" + std::to_string(d.cell);
    switch (d.kind) {
      case LayerKind::kCellLayer:
        return name.append(".layer").append(std::to_string(d.index));
      case LayerKind::kIbReduce:
        return name.append(".reduce");
      default:
        break;
    }
    name.append(".block").append(std::to_string(d.index));
    switch (d.kind) {
      case LayerKind::kIbExpand:
        return name.append(".expand");
      case LayerKind::kIbDepthwise:
        return name.append(".depthwise");
      default:
        return name.append(".project");
    }
  }

  void conv(const ConvDesc& d) {
    LayerRecord r;
    r.name = layer_name(d);
    r.entry = entry_index(d.entry);
    r.c_in = d.c_in;
    r.c_out = d.c_out;
    r.kernel = d.kernel;
    r.groups = d.groups;
    const bool hr = d.px_mult != 1;
    r.height = hr ? h * s : h;
    r.width = hr ? w * s : w;
    const int64_t weights = conv_weights(d);
    const int64_t pixels = checked_mul(hw, d.px_mult, "output pixels");
    r.params = weights + d.c_out;
    r.macs = checked_mul(weights, pixels, "layer MACs");
    r.act_bytes = checked_mul(checked_mul(d.c_out, pixels, "layer activations"), dtype_bytes,
                              "layer activation bytes");
    CellTotal& t = out->cells[static_cast<std::size_t>(r.entry)];
    t.params += r.params;
    t.macs = add_checked(t.macs, r.macs);
    t.act_bytes = add_checked(t.act_bytes, r.act_bytes);
    out->layers.push_back(std::move(r));
  }

  void write(int64_t entry, int64_t elems_px) {
    CellTotal& t = out->cells[static_cast<std::size_t>(entry_index(entry))];
    const int64_t bytes = checked_mul(checked_mul(elems_px, hw, "activations"), dtype_bytes,
                                      "activation bytes");
    t.act_bytes = add_checked(t.act_bytes, bytes);
  }

  static int64_t add_checked(int64_t a, int64_t b) {
    if (a > std::numeric_limits<int64_t>::max() - b) {
      fail_invalid("count overflows int64 (input too large)");
    }
    return a + b;
  }
};

}  // namespace

int64_t genotype_row_len(int64_t num_cells) {
  if (num_cells < 1 || num_cells > kMaxCells) {
    fail_invalid("num_cells must be in 1.." + std::to_string(kMaxCells) + ", got " +
                 std::to_string(num_cells));
  }
  return kCellFields * num_cells + 2;
}

int64_t genotype_num_cells(int64_t row_len) {
  if (row_len < kCellFields + 2 || (row_len - 2) % kCellFields != 0 ||
      (row_len - 2) / kCellFields > kMaxCells) {
    fail_invalid("row length must be 6 * num_cells + 2 with num_cells in 1.." +
                 std::to_string(kMaxCells) + ", got " + std::to_string(row_len));
  }
  return (row_len - 2) / kCellFields;
}

void check_count_config(int64_t height, int64_t width, int64_t scale, int64_t in_channels,
                        int64_t dtype_bytes) {
  if (height < kMinSize) {
    fail_invalid("height must be >= 3 (the frame's convs are 3x3), got " +
                 std::to_string(height));
  }
  if (width < kMinSize) {
    fail_invalid("width must be >= 3 (the frame's convs are 3x3), got " + std::to_string(width));
  }
  if (scale != 2 && scale != 3 && scale != 4) {
    fail_invalid("scale must be 2, 3 or 4, got " + std::to_string(scale));
  }
  if (in_channels < 1 || in_channels > kMaxInChannels) {
    fail_invalid("in_channels must be in 1.." + std::to_string(kMaxInChannels) + ", got " +
                 std::to_string(in_channels));
  }
  if (dtype_bytes < 1 || dtype_bytes > kMaxDtypeBytes) {
    fail_invalid("dtype_bytes must be in 1.." + std::to_string(kMaxDtypeBytes) + ", got " +
                 std::to_string(dtype_bytes));
  }
  // H*W*s*s (the HR pixel count) must fit; the totals are checked where they are formed.
  checked_numel({height, width, scale, scale}, "height * width * scale^2");
}

LayerCounts count_layers(const int64_t* row, int64_t row_len, int64_t height, int64_t width,
                         int64_t scale, int64_t in_channels, int64_t dtype_bytes) {
  check_count_config(height, width, scale, in_channels, dtype_bytes);
  check_pointer(row, row_len, "row");
  if (row_len < 1) {
    fail_invalid("row is empty (expected [num_cells, 6 values per cell, fusion_mask])");
  }
  const int64_t num_cells = row[0];
  const int64_t expected = genotype_row_len(num_cells);
  if (row_len != expected) {
    fail_invalid("row length " + std::to_string(row_len) + " does not match num_cells " +
                 std::to_string(num_cells) + " (expected 6 * " + std::to_string(num_cells) +
                 " + 2 = " + std::to_string(expected) + ")");
  }
  LayerCounts out;
  const bool pre = scale != 2;
  out.cells.reserve(static_cast<std::size_t>(num_cells + 4));
  out.cells.push_back(CellTotal{"F", 0, 0, 0});
  for (int64_t i = 0; i < num_cells; ++i) {
    out.cells.push_back(CellTotal{"cell" + std::to_string(i), 0, 0, 0});
  }
  out.cells.push_back(CellTotal{"fusion", 0, 0, 0});
  if (pre) {
    out.cells.push_back(CellTotal{"pre_shuffle", 0, 0, 0});
  }
  out.cells.push_back(CellTotal{"reconstruction", 0, 0, 0});
  out.layers.reserve(static_cast<std::size_t>(num_cells * 13 + 4));

  RecordSink sink{&out,  num_cells, height * width, height, width, scale, dtype_bytes,
                  pre ? num_cells + 2 : -1, pre ? num_cells + 3 : num_cells + 2};
  walk_genotype(row, num_cells, scale, in_channels, sink);
  for (const CellTotal& t : out.cells) {
    out.params += t.params;
    out.macs = RecordSink::add_checked(out.macs, t.macs);
    out.act_bytes = RecordSink::add_checked(out.act_bytes, t.act_bytes);
  }
  return out;
}

void count_batch(const int64_t* rows, int64_t n, int64_t row_len, int64_t height, int64_t width,
                 int64_t scale, int64_t in_channels, int64_t dtype_bytes, int64_t* params_out,
                 int64_t* macs_out, int64_t* act_bytes_out, int64_t* cell_macs_out,
                 int64_t* cell_params_out) {
  check_count_config(height, width, scale, in_channels, dtype_bytes);
  check_non_negative(n, "n (number of genotypes)");
  const int64_t num_cells = genotype_num_cells(row_len);
  const int64_t total = checked_mul(n, row_len, "rows size");
  check_pointer(rows, total, "rows");
  check_pointer(params_out, n, "params_out");
  check_pointer(macs_out, n, "macs_out");
  check_pointer(act_bytes_out, n, "act_bytes_out");
  if (cell_macs_out != nullptr || cell_params_out != nullptr) {
    count_rows<true>(rows, n, row_len, num_cells, height, width, scale, in_channels, dtype_bytes,
                     params_out, macs_out, act_bytes_out, cell_macs_out, cell_params_out);
  } else {
    count_rows<false>(rows, n, row_len, num_cells, height, width, scale, in_channels,
                      dtype_bytes, params_out, macs_out, act_bytes_out, nullptr, nullptr);
  }
}

}  // namespace falsr::core
