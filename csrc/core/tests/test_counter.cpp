// C++ tests of csrc/core/counter (no torch): the released FALSR-A/B/C graphs at 480x480
// x2 (totals exact, every per-cell figure of docs/falsr-reference.md), hand-counted
// activation bytes and x3/x4 frames, batch == single on random genotypes, and every
// error case (std::invalid_argument naming the cell and field).
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/counter.h"
#include "core/tests/check.h"

namespace {


using falsr::core::CellTotal;
using falsr::core::LayerCounts;
using Row = std::vector<int64_t>;

// Node masks: F = 1, c_j = 1 << (j + 1).
constexpr int64_t F = 1;
constexpr int64_t c(int j) { return int64_t{1} << (j + 1); }

// The released graphs (docs/falsr-reference.md, wiring table), encoded by hand:
// [block (0 conv, 1 ib, 2 g2, 3 g4), kernel, filters, blocks, skip, input mask].
const Row kFalsrA = {7,
                     0, 3, 64, 4, 1, F,
                     0, 1, 48, 1, 1, c(0),
                     0, 3, 64, 4, 1, c(1),
                     0, 3, 64, 4, 1, c(1) | c(2),
                     0, 3, 64, 4, 1, F | c(1) | c(3),
                     0, 1, 64, 4, 0, c(4),
                     0, 3, 64, 4, 1, F | c(1) | c(4) | c(5),
                     F | c(0) | c(1) | c(2) | c(3) | c(4) | c(5) | c(6)};
const Row kFalsrB = {7,
                     1, 3, 16, 1, 1, F,
                     1, 1, 48, 2, 1, F | c(0),
                     0, 1, 16, 2, 1, F | c(0) | c(1),
                     1, 3, 32, 4, 0, c(2),
                     0, 3, 64, 2, 0, c(1) | c(2) | c(3),
                     3, 3, 16, 4, 0, c(1) | c(3) | c(4),
                     0, 3, 16, 1, 1, F | c(0) | c(1) | c(5),
                     c(0) | c(3) | c(5) | c(6)};
const Row kFalsrC = {7,
                     2, 1, 32, 1, 0, F,
                     0, 1, 64, 4, 0, F | c(0),
                     1, 3, 48, 4, 0, c(1),
                     2, 1, 32, 1, 0, c(0) | c(2),
                     3, 1, 32, 1, 1, F | c(3),
                     0, 1, 48, 4, 0, F | c(4),
                     0, 3, 16, 1, 1, c(0) | c(5),
                     F | c(1) | c(5) | c(6)};

LayerCounts count(const Row& row, int64_t h = 480, int64_t w = 480, int64_t s = 2,
                  int64_t in_ch = 1, int64_t dtype = 4) {
  return falsr::core::count_layers(row.data(), static_cast<int64_t>(row.size()), h, w, s, in_ch,
                                   dtype);
}

// MACs in millions, rounded (the doc's "G to 3 decimals").
long long mega(int64_t macs) { return (macs + 500000) / 1000000; }

struct CellFigure {
  int64_t params;
  long long macs_mega;
};

void check_model(const char* name, const Row& row, int64_t params, int64_t macs,
                 const std::vector<CellFigure>& cells) {
  std::printf("%s\n", name);
  const LayerCounts r = count(row);
  CHECK_EQ(r.params, params);
  CHECK_EQ(r.macs, macs);
  CHECK_EQ(r.cells.size(), 10u);  // F, 7 cells, fusion, reconstruction (no pre_shuffle at x2)
  CHECK(r.cells[0].name == "F");
  CHECK_EQ(r.cells[0].params, 320);
  CHECK_EQ(mega(r.cells[0].macs), 66);
  for (std::size_t i = 0; i < cells.size(); ++i) {
    CHECK(r.cells[i + 1].name == "cell" + std::to_string(i));
    CHECK_EQ(r.cells[i + 1].params, cells[i].params);
    CHECK_EQ(mega(r.cells[i + 1].macs), cells[i].macs_mega);
  }
  CHECK(r.cells[8].name == "fusion");
  CHECK(r.cells[9].name == "reconstruction");
  CHECK_EQ(r.cells[9].params, 73);
  CHECK_EQ(mega(r.cells[9].macs), 66);
  int64_t p = 0, m = 0, a = 0;
  for (const CellTotal& t : r.cells) {
    p += t.params;
    m += t.macs;
    a += t.act_bytes;
  }
  CHECK_EQ(p, r.params);
  CHECK_EQ(m, r.macs);
  CHECK_EQ(a, r.act_bytes);
  int64_t lp = 0, lm = 0;
  for (const auto& l : r.layers) {
    lp += l.params;
    lm += l.macs;
  }
  CHECK_EQ(lp, r.params);
  CHECK_EQ(lm, r.macs);
  const auto& tail = r.layers.back();
  CHECK(tail.name == "reconstruction.conv");
  CHECK_EQ(tail.height, 960);
  CHECK_EQ(tail.width, 960);
  CHECK_EQ(tail.macs, 72 * 960 * 960);

  // The batch path agrees.
  int64_t bp = 0, bm = 0, ba = 0;
  int64_t cm[10], cp[10];
  falsr::core::count_batch(row.data(), 1, static_cast<int64_t>(row.size()), 480, 480, 2, 1, 4,
                           &bp, &bm, &ba, cm, cp);
  CHECK_EQ(bp, r.params);
  CHECK_EQ(bm, r.macs);
  CHECK_EQ(ba, r.act_bytes);
  for (int i = 0; i < 10; ++i) {
    CHECK_EQ(cm[i], r.cells[static_cast<std::size_t>(i)].macs);
    CHECK_EQ(cp[i], r.cells[static_cast<std::size_t>(i)].params);
  }
}

void test_released_models() {
  check_model("FALSR-A", kFalsrA, 1021401, 235000627200LL,
              {{129280, 29727}, {3120, 708}, {138496, 31850}, {175360, 40344}, {193792, 44591},
               {16640, 3775}, {230656, 53084}});
  check_model("FALSR-B", kFalsrB, 324745, 74502144000LL,
              {{10112, 2308}, {22992, 5176}, {1824, 413}, {150944, 34623}, {92288, 21234},
               {6976, 1593}, {16144, 3716}});
  check_model("FALSR-C", kFalsrC, 426569, 97955020800LL,
              {{544, 118}, {16640, 3775}, {339312, 77945}, {1312, 295}, {544, 118},
               {10176, 2300}, {11536, 2654}});
  // FALSR-A fusion conv: 133,664 params / 30.789 G.
  const LayerCounts a = count(kFalsrA);
  CHECK_EQ(a.cells[8].params, 133664);
  CHECK_EQ(mega(a.cells[8].macs), 30789);
  CHECK(a.layers[a.layers.size() - 2].name == "fusion.conv");
  CHECK_EQ(a.layers[a.layers.size() - 2].c_in, 464);
  // Layer list of an ib cell (FALSR-B cell1: ib k1 f48 b2 skip <- F,c0 (48 channels)).
  const LayerCounts b = count(kFalsrB);
  std::vector<std::string> names;
  for (const auto& l : b.layers) {
    if (l.entry == 2) {
      names.push_back(l.name);
    }
  }
  const std::vector<std::string> expected = {
      "cell1.reduce",        "cell1.block0.expand",    "cell1.block0.depthwise",
      "cell1.block0.project", "cell1.block1.expand",   "cell1.block1.depthwise",
      "cell1.block1.project"};
  CHECK(names == expected);
  CHECK_EQ(b.layers[2].c_in, 16);  // cell0.block0.expand: f -> 2f
  CHECK(b.layers[1].name == "cell0.reduce");
  CHECK_EQ(b.layers[1].c_in, 32);
  CHECK(b.layers[3].name == "cell0.block0.depthwise");
  CHECK_EQ(b.layers[3].groups, 32);
  CHECK_EQ(b.layers[3].kernel, 3);
  // FALSR-C cell0 is g2: groups 2.
  const LayerCounts cc = count(kFalsrC);
  CHECK(cc.layers[1].name == "cell0.layer0");
  CHECK_EQ(cc.layers[1].groups, 2);
}

void test_activation_bytes() {
  // conv k3 f16 b2 skip <- F; fusion F + c0; 4x4, x2, 1 channel, fp32.
  // Per LR pixel: F 32; cell: 16 + 16 + skip add 16; fusion: concat 48, conv 32, + F 32;
  // reconstruction: shuffle 32, tail 1 * 4.  = 228 elements.
  const Row conv_row = {1, 0, 3, 16, 2, 1, F, F | c(0)};
  LayerCounts r = count(conv_row, 4, 4, 2, 1, 4);
  CHECK_EQ(r.act_bytes, 228 * 16 * 4);
  CHECK_EQ(r.params, 320 + 4624 + 2320 + 13856 + 73);
  CHECK_EQ(r.macs, (288 + 4608 + 2304 + 13824 + 72 * 4) * 16);
  CHECK_EQ(r.cells[1].act_bytes, 48 * 16 * 4);
  CHECK_EQ(r.cells[2].act_bytes, 112 * 16 * 4);
  CHECK_EQ(r.cells[3].act_bytes, 36 * 16 * 4);
  CHECK_EQ(r.layers.size(), 5u);
  // Same without skip: no add (and skip with one layer: no add either).
  CHECK_EQ(count({1, 0, 3, 16, 2, 0, F, F | c(0)}, 4, 4).act_bytes, 212 * 16 * 4);
  CHECK_EQ(count({1, 0, 3, 16, 1, 1, F, F | c(0)}, 4, 4).act_bytes, 196 * 16 * 4);

  // ib k1 f16 b2 skip <- F; fusion c0 (no concat). Per LR pixel: F 32; cell: reduce 16,
  // 2 x (expand 32 + dw 32 + project 16 + add 16), skip add 16 = 224; fusion 32 + 32;
  // reconstruction 32 + 4.  = 356. bf16 (2 bytes).
  const Row ib_row = {1, 1, 1, 16, 2, 1, F, c(0)};
  r = count(ib_row, 5, 7, 2, 1, 2);
  CHECK_EQ(r.act_bytes, 356 * 35 * 2);
  CHECK_EQ(r.cells[1].params, 528 + 2 * (544 + 320 + 528));
  CHECK_EQ(r.cells[1].macs, (512 + 2 * (512 + 288 + 512)) * 35);
  CHECK_EQ(r.layers.size(), 10u);

  // x3, RGB: pre_shuffle conv 32 -> 72 at LR, shuffle 72 -> 8 channels at 3H x 3W,
  // tail 8 -> 3 at 3H x 3W.
  r = count(conv_row, 10, 6, 3, 3, 4);
  CHECK_EQ(r.cells.size(), 5u);
  CHECK(r.cells[3].name == "pre_shuffle");
  CHECK(r.cells[4].name == "reconstruction");
  CHECK_EQ(r.cells[3].params, 9 * 32 * 72 + 72);
  CHECK_EQ(r.cells[3].macs, 9 * 32 * 72 * 60);
  CHECK_EQ(r.cells[3].act_bytes, 72 * 60 * 4);
  CHECK_EQ(r.cells[4].params, 9 * 8 * 3 + 3);
  CHECK_EQ(r.cells[4].macs, 9 * 8 * 3 * 540);
  CHECK_EQ(r.cells[4].act_bytes, (8 + 3) * 540 * 4);
  CHECK_EQ(r.cells[0].params, 9 * 3 * 32 + 32);
  CHECK_EQ(r.layers.back().height, 30);
  CHECK_EQ(r.layers.back().width, 18);
  // x4: pre_shuffle 32 -> 128.
  r = count(conv_row, 8, 8, 4, 1, 4);
  CHECK_EQ(r.cells[3].params, 9 * 32 * 128 + 128);
  CHECK_EQ(r.cells[4].macs, 72 * 64 * 16);
  // Batch: pre_shuffle + reconstruction share the last column.
  int64_t p, m, a, cm[4], cp[4];
  falsr::core::count_batch(conv_row.data(), 1, 8, 8, 8, 4, 1, 4, &p, &m, &a, cm, cp);
  CHECK_EQ(p, r.params);
  CHECK_EQ(m, r.macs);
  CHECK_EQ(a, r.act_bytes);
  CHECK_EQ(cp[3], r.cells[3].params + r.cells[4].params);
  CHECK_EQ(cm[3], r.cells[3].macs + r.cells[4].macs);
}

Row random_row(std::mt19937_64& rng, int cells) {
  Row row = {cells};
  for (int i = 0; i < cells; ++i) {
    const int64_t filters[] = {16, 32, 48, 64};
    const int64_t blocks[] = {1, 2, 4};
    row.push_back(static_cast<int64_t>(rng() % 4));
    row.push_back(rng() % 2 ? 3 : 1);
    row.push_back(filters[rng() % 4]);
    row.push_back(blocks[rng() % 3]);
    row.push_back(static_cast<int64_t>(rng() % 2));
    const uint64_t mask = rng() & ((uint64_t{1} << (i + 1)) - 1);
    row.push_back(mask != 0 ? static_cast<int64_t>(mask) : int64_t{1} << i);
  }
  const uint64_t fm = rng() & ((uint64_t{1} << (cells + 1)) - 1);
  row.push_back(fm != 0 ? static_cast<int64_t>(fm) : int64_t{1} << cells);
  return row;
}

void test_batch_matches_single() {
  std::mt19937_64 rng(1234);
  for (int cells : {1, 3, 7, 12, 62}) {
    const int n = 50;
    const int64_t len = falsr::core::genotype_row_len(cells);
    Row rows;
    for (int g = 0; g < n; ++g) {
      const Row r = random_row(rng, cells);
      rows.insert(rows.end(), r.begin(), r.end());
    }
    for (int64_t s : {2, 3, 4}) {
      std::vector<int64_t> p(n), m(n), a(n), p2(n), m2(n), a2(n);
      std::vector<int64_t> cm(static_cast<std::size_t>(n * (cells + 3)));
      std::vector<int64_t> cp(cm.size());
      falsr::core::count_batch(rows.data(), n, len, 37, 23, s, 3, 2, p.data(), m.data(),
                               a.data(), cm.data(), cp.data());
      falsr::core::count_batch(rows.data(), n, len, 37, 23, s, 3, 2, p2.data(), m2.data(),
                               a2.data(), nullptr, nullptr);
      for (int g = 0; g < n; ++g) {
        const LayerCounts r =
            falsr::core::count_layers(rows.data() + g * len, len, 37, 23, s, 3, 2);
        CHECK_EQ(p[g], r.params);
        CHECK_EQ(m[g], r.macs);
        CHECK_EQ(a[g], r.act_bytes);
        CHECK_EQ(p2[g], r.params);
        CHECK_EQ(m2[g], r.macs);
        CHECK_EQ(a2[g], r.act_bytes);
        for (int e = 0; e < cells + 3; ++e) {
          int64_t want_p = r.cells[static_cast<std::size_t>(e)].params;
          int64_t want_m = r.cells[static_cast<std::size_t>(e)].macs;
          if (e == cells + 2 && s != 2) {  // upsample = pre_shuffle + reconstruction
            want_p += r.cells[static_cast<std::size_t>(e + 1)].params;
            want_m += r.cells[static_cast<std::size_t>(e + 1)].macs;
          }
          CHECK_EQ(cp[static_cast<std::size_t>(g * (cells + 3) + e)], want_p);
          CHECK_EQ(cm[static_cast<std::size_t>(g * (cells + 3) + e)], want_m);
        }
      }
    }
  }
  // Empty batch.
  int64_t dummy = 0;
  falsr::core::count_batch(nullptr, 0, 44, 480, 480, 2, 1, 4, &dummy, &dummy, &dummy, nullptr,
                           nullptr);
  CHECK_EQ(dummy, 0);
}

void test_errors() {
  auto with = [](int64_t index, int64_t value) {
    Row r = kFalsrA;
    r[static_cast<std::size_t>(index)] = value;
    return r;
  };
  // Cell fields: cell i, field j lives at 1 + 6*i + j.
  CHECK_THROWS(count(with(1 + 6 * 2 + 0, 4)), "cells[2].block: 4 is not a block id");
  CHECK_THROWS(count(with(1 + 6 * 0 + 0, -1)), "cells[0].block: -1 is not a block id");
  CHECK_THROWS(count(with(1 + 6 * 3 + 1, 5)), "cells[3].kernel: 5 is not in the search space");
  CHECK_THROWS(count(with(1 + 6 * 1 + 2, 20)), "cells[1].filters: 20 is not in the search space");
  CHECK_THROWS(count(with(1 + 6 * 1 + 2, 128)), "cells[1].filters: 128");
  CHECK_THROWS(count(with(1 + 6 * 4 + 3, 3)), "cells[4].blocks: 3 is not in the search space");
  CHECK_THROWS(count(with(1 + 6 * 4 + 3, 0)), "cells[4].blocks: 0");
  CHECK_THROWS(count(with(1 + 6 * 5 + 4, 2)), "cells[5].skip: 2 is not 0 or 1");
  CHECK_THROWS(count(with(1 + 6 * 2 + 5, 0)), "cells[2].input_mask: empty input mask");
  CHECK_THROWS(count(with(1 + 6 * 2 + 5, c(2))),
               "cells[2].input_mask: mask 0x8 references node 3 (c2), not an earlier node "
               "(allowed F, c0..c1)");
  CHECK_THROWS(count(with(1 + 6 * 0 + 5, c(0))), "cells[0].input_mask: mask 0x2 references "
                                                 "node 1 (c0), not an earlier node (allowed F)");
  CHECK_THROWS(count(with(1 + 6 * 6 + 5, -1)), "cells[6].input_mask: mask 0xffffffffffffffff "
                                               "references node 63");
  CHECK_THROWS(count(with(43, 0)), "fusion_mask: empty input mask");
  CHECK_THROWS(count(with(43, 511)), "fusion_mask: mask 0x1ff references node 8 (c7)");
  // Frame / size arguments.
  CHECK_THROWS(count(kFalsrA, -480, 480), "height must be >= 3");
  CHECK_THROWS(count(kFalsrA, 480, -1), "width must be >= 3");
  CHECK_THROWS(count(kFalsrA, 2, 480), "height must be >= 3 (the frame's convs are 3x3), got 2");
  CHECK_THROWS(count(kFalsrA, 480, 2), "width must be >= 3");
  CHECK_THROWS(count(kFalsrA, 480, 480, 1), "scale must be 2, 3 or 4, got 1");
  CHECK_THROWS(count(kFalsrA, 480, 480, 5), "scale must be 2, 3 or 4, got 5");
  CHECK_THROWS(count(kFalsrA, 480, 480, 2, 0), "in_channels must be in 1..4096, got 0");
  CHECK_THROWS(count(kFalsrA, 480, 480, 2, 1, 0), "dtype_bytes must be in 1..16, got 0");
  CHECK_THROWS(count(kFalsrA, int64_t{1} << 40, int64_t{1} << 40), "overflows int64");
  CHECK_THROWS(count(kFalsrA, int64_t{1} << 28, int64_t{1} << 28), "overflows int64");
  CHECK(count(kFalsrA, 3, 3).macs > 0);  // the smallest valid size
  // Row structure.
  CHECK_THROWS(count(Row{}), "row is empty");
  CHECK_THROWS(count(Row{0, 1}), "num_cells must be in 1..62, got 0");
  CHECK_THROWS(count(Row{63}), "num_cells must be in 1..62, got 63");
  Row short_row = kFalsrA;
  short_row.pop_back();
  CHECK_THROWS(count(short_row), "row length 43 does not match num_cells 7");
  // Batch: the error names the row.
  Row two = kFalsrB;
  two.insert(two.end(), kFalsrC.begin(), kFalsrC.end());
  two[44 + 1 + 6 * 3 + 1] = 5;
  int64_t p[2], m[2], a[2];
  CHECK_THROWS(falsr::core::count_batch(two.data(), 2, 44, 480, 480, 2, 1, 4, p, m, a, nullptr,
                                        nullptr),
               "genotype 1: cells[3].kernel: 5 is not in the search space [1, 3]");
  CHECK_EQ(p[0], 324745);  // rows before the bad one are written
  two = kFalsrB;
  two.insert(two.end(), kFalsrC.begin(), kFalsrC.end());
  two[44] = 6;
  CHECK_THROWS(falsr::core::count_batch(two.data(), 2, 44, 480, 480, 2, 1, 4, p, m, a, nullptr,
                                        nullptr),
               "genotype 1: num_cells: 6 but the row length 44 holds 7 cells");
  CHECK_THROWS(falsr::core::count_batch(two.data(), 2, 43, 480, 480, 2, 1, 4, p, m, a, nullptr,
                                        nullptr),
               "row length must be 6 * num_cells + 2");
  CHECK_THROWS(falsr::core::count_batch(two.data(), -1, 44, 480, 480, 2, 1, 4, p, m, a, nullptr,
                                        nullptr),
               "n (number of genotypes) must be >= 0");
  CHECK_THROWS(falsr::core::count_batch(two.data(), 2, 44, 2, 480, 2, 1, 4, p, m, a, nullptr,
                                        nullptr),
               "height must be >= 3");
  CHECK_THROWS(falsr::core::count_batch(nullptr, 2, 44, 480, 480, 2, 1, 4, p, m, a, nullptr,
                                        nullptr),
               "rows is a null pointer");
  CHECK_THROWS(falsr::core::count_batch(kFalsrA.data(), 1, 44, int64_t{1} << 25,
                                        int64_t{1} << 25, 2, 1, 4, p, m, a, nullptr, nullptr),
               "genotype 0: MACs overflows int64");
}

}  // namespace

int main() {
  test_released_models();
  test_activation_bytes();
  test_batch_matches_single();
  test_errors();
  return falsr::test::report("test_counter");
}
