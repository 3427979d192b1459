// The avx512_bf16 cell_conv path: all inputs bf16, k 1 or 3, dense (small groups as a
// block-diagonal dense conv when that costs no more multiplies than running the groups
// apart). Products of bf16 pairs by vdpbf16ps, fp32 accumulation: twice the MACs per
// instruction of the fp32 direct path, whose structure it copies (a task is an image and
// a block of output rows, with a ring of k gathered bf16 rows with zero borders, so the
// row kernel never tests borders; 1x1 convs over planes with even channel counts read
// the planes in place). The weights are rounded to bf16 once when packing (lossless for
// the engine, whose weights are bf16-exact). Layouts: cell_conv_bf16.h; the row kernel:
// cell_conv_bf16_kernel.cpp.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/cell_conv_bf16.h"
#include "core/cell_conv_paths.h"
#include "core/cell_conv_window.h"

namespace falsr::core {
namespace {

using bf16conv::Geometry;
using bf16conv::Segment;

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// A buffer of T whose data() is 64-byte aligned.
template <class T>
class Aligned {
 public:
  explicit Aligned(size_t n) : store_(n + 64 / sizeof(T), T{}) {
    const auto addr = reinterpret_cast<uintptr_t>(store_.data());
    data_ = store_.data() + ((64 - addr % 64) % 64) / sizeof(T);
  }
  T* data() { return data_; }
  const T* data() const { return data_; }

 private:
  std::vector<T> store_;
  T* data_;
};

class Bf16Plan final : public CellConvPlan {
 public:
  Bf16Plan(const CellConvArgs& a, int64_t cin, bf16conv::RowKernel row)
      : row_(row),
        weight_(static_cast<size_t>(a.kernel * a.kernel * ((cin + 1) / 2) *
                                    round_up(a.out_channels, 16) * 2)),
        bias_(static_cast<size_t>(round_up(a.out_channels, 16))) {
    const int64_t cout = a.out_channels, k = a.kernel;
    g_.cin = cin;
    g_.cout = cout;
    g_.k = k;
    g_.pad = k / 2;
    g_.taps = k * k;
    g_.cin_pairs = (cin + 1) / 2;
    g_.coutp = round_up(cout, 16);
    g_.cstride = 2 * g_.cin_pairs;
    g_.relu = a.relu;
    g_.read_in_place = k == 1;
    for (const Plane& p : a.inputs) g_.read_in_place = g_.read_in_place && p.channels % 2 == 0;
    // weight_[((t * cin_pairs + ci / 2) * coutp + oc) * 2 + ci % 2]; zero off the group's
    // block of the diagonal and in the padding (Aligned value-initialises).
    const int64_t cin_g = cin / a.groups, cout_g = cout / a.groups;
    uint16_t* w = weight_.data();
    for (int64_t oc = 0; oc < cout; ++oc) {
      bias_.data()[oc] = a.bias != nullptr ? a.bias[oc] : 0.0f;
      const int64_t go = oc / cout_g;
      for (int64_t j = 0; j < cin_g; ++j) {
        const int64_t ci = go * cin_g + j;
        for (int64_t t = 0; t < g_.taps; ++t) {
          w[((t * g_.cin_pairs + ci / 2) * g_.coutp + oc) * 2 + ci % 2] =
              float_to_bf16(a.weight[(oc * cin_g + j) * g_.taps + t]);
        }
      }
    }
    g_.weight = weight_.data();
    g_.bias = bias_.data();
    batch_ = a.batch;
    height_ = a.height;
    // Enough tasks to balance threads; a few rows each so the halo rows gathered twice
    // (k = 3) stay a small fraction.
    rows_per_task_ = std::clamp<int64_t>((a.height + 15) / 16, 1, 8);
    tasks_per_image_ = (a.height + rows_per_task_ - 1) / rows_per_task_;
    num_segments_ = bf16conv::segment_scratch(g_.taps, static_cast<int64_t>(a.inputs.size()));
  }
  Bf16Plan(const Bf16Plan&) = delete;
  Bf16Plan& operator=(const Bf16Plan&) = delete;

  int64_t num_tasks() const override { return batch_ * tasks_per_image_; }

  void run_tasks(const CellConvArgs& a, int64_t begin, int64_t end) const override {
    const bool gathers = !g_.read_in_place;
    const int64_t slot = round_up(window_row_elems(a.width, g_.pad, g_.cstride), 32);
    const int64_t acc_floats = round_up(bf16conv::acc_scratch(a.width), 16);
    thread_local std::vector<float> scratch;
    thread_local std::vector<Segment> segs;
    if (segs.size() < static_cast<size_t>(num_segments_)) segs.resize(static_cast<size_t>(num_segments_));
    // The acc floats, then the ring of k bf16 rows (2 per float).
    const size_t need = static_cast<size_t>(acc_floats + (gathers ? g_.k * slot / 2 : 0) + 16);
    if (scratch.size() < need) scratch.resize(need);
    float* acc = scratch.data() + ((64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64) / sizeof(float);
    uint16_t* base = reinterpret_cast<uint16_t*>(acc + acc_floats);

    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / tasks_per_image_;
      const int64_t y0 = (t % tasks_per_image_) * rows_per_task_;
      const int64_t y1 = std::min(height_, y0 + rows_per_task_);
      const uint16_t* rows[3] = {nullptr, nullptr, nullptr};
      uint16_t* ring[3] = {nullptr, nullptr, nullptr};
      if (gathers) {
        for (int64_t ky = 0; ky < g_.k; ++ky) {
          ring[ky] = base + ky * slot;
          gather_row<uint16_t>(a, n, y0 - g_.pad + ky, g_.pad, g_.cstride, ring[ky]);
        }
      }
      for (int64_t y = y0; y < y1; ++y) {
        if (gathers && y > y0) {  // slide the window down one row: reuse the oldest slot
          uint16_t* oldest = ring[0];
          for (int64_t ky = 0; ky + 1 < g_.k; ++ky) ring[ky] = ring[ky + 1];
          ring[g_.k - 1] = oldest;
          gather_row<uint16_t>(a, n, y + g_.pad, g_.pad, g_.cstride, oldest);
        }
        for (int64_t ky = 0; ky < g_.k; ++ky) rows[ky] = ring[ky];
        row_(g_, a, n, y, rows, segs.data(), acc);
      }
    }
  }

  std::string path() const override { return "avx512_bf16/direct"; }

 private:
  Geometry g_;
  bf16conv::RowKernel row_;
  Aligned<uint16_t> weight_;
  Aligned<float> bias_;
  int64_t batch_ = 0, height_ = 0, rows_per_task_ = 1, tasks_per_image_ = 0, num_segments_ = 1;
};

}  // namespace

std::unique_ptr<CellConvPlan> make_bf16_cell_conv_plan(const CellConvArgs& a, Isa isa) {
  const bf16conv::RowKernel row = bf16conv::row_kernel_avx512_bf16();
  if (row == nullptr || static_cast<int>(isa) < static_cast<int>(Isa::Avx512Bf16) ||
      static_cast<int>(cpu_isa()) < static_cast<int>(Isa::Avx512Bf16)) {
    return nullptr;
  }
  if ((a.kernel != 1 && a.kernel != 3) || a.inputs.empty() || a.groups < 1) return nullptr;
  int64_t cin = 0;
  for (const Plane& p : a.inputs) {
    if (p.dtype != DType::BF16) return nullptr;
    cin += p.channels;
  }
  if (a.groups > 1) {
    // Block-diagonal dense only when it multiplies no more lanes than running the groups
    // apart with whole 16-lane vectors (the fp32 direct path's own test for expanding).
    const int64_t per_group = cin * round_up(a.out_channels / a.groups, 16);
    const int64_t dense = cin * round_up(a.out_channels, 16);
    if (dense > per_group) return nullptr;
  }
  return std::make_unique<Bf16Plan>(a, cin, row);
}

}  // namespace falsr::core
