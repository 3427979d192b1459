// The direct cell_conv path: every case (k 1/3, dense, grouped, depthwise, any mix of
// fp32/bf16 planes), fp32 arithmetic. The plan packs the weights once; a task is
// (image, block of output rows) and keeps a ring of k gathered input rows (zero borders,
// bf16 widened to fp32), so the row kernels (cell_conv_direct_row.inc, compiled per
// ISA) never test borders. 1x1 convolutions on fp32 planes read the planes in place.
// Layouts and the dense / grouped / spread choice: cell_conv_direct.h.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/cell_conv_direct.h"
#include "core/cell_conv_paths.h"
#include "core/cell_conv_window.h"

namespace falsr::core {
namespace direct {
namespace {

// Portable vectors of 4 floats (GCC/Clang vector extension: SSE on x86, NEON on ARM,
// scalar code elsewhere).
struct GenericVec {
  static constexpr int L = 4;
  static constexpr int kMaxNV = 4;
  static constexpr int kDwPixels = 4;
  static constexpr int pixels(int) { return 3; }
  typedef float reg __attribute__((vector_size(16)));
  static reg load(const float* p) {
    reg r;
    std::memcpy(&r, p, sizeof(r));
    return r;
  }
  static void store(float* p, reg r) { std::memcpy(p, &r, sizeof(r)); }
  static reg bcast(float f) { return reg{f, f, f, f}; }
  static reg fma(reg a, reg b, reg c) { return a * b + c; }
  static reg add(reg a, reg b) { return a + b; }
  static reg permute(reg a, const int32_t* idx) {
    return reg{a[idx[0]], a[idx[1]], a[idx[2]], a[idx[3]]};
  }
  static reg relu(reg a) {
    for (int i = 0; i < L; ++i) a[i] = a[i] > 0.0f ? a[i] : 0.0f;
    return a;
  }
  static reg load_io(const void* base, DType dt, int64_t idx, int n) {
    reg r{0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < n; ++i) {
      r[i] = dt == DType::F32 ? static_cast<const float*>(base)[idx + i]
                              : bf16_to_float(static_cast<const uint16_t*>(base)[idx + i]);
    }
    return r;
  }
  static void store_io(void* base, DType dt, int64_t idx, int n, reg r) {
    for (int i = 0; i < n; ++i) {
      if (dt == DType::F32) {
        static_cast<float*>(base)[idx + i] = r[i];
      } else {
        static_cast<uint16_t*>(base)[idx + i] = float_to_bf16(r[i]);
      }
    }
  }
};

#include "core/cell_conv_direct_row.inc"

}  // namespace

Kernels kernels_generic() { return {&conv_row<GenericVec>, &spread_row<GenericVec>, GenericVec::L}; }

}  // namespace direct

namespace {

using direct::Geometry;
using direct::Segment;

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// A float buffer whose data() is 64-byte aligned.
class AlignedFloats {
 public:
  explicit AlignedFloats(size_t n) : store_(n + 16, 0.0f) {
    const auto addr = reinterpret_cast<uintptr_t>(store_.data());
    data_ = store_.data() + ((64 - addr % 64) % 64) / sizeof(float);
  }
  float* data() { return data_; }
  const float* data() const { return data_; }

 private:
  std::vector<float> store_;
  float* data_;
};

class DirectPlan final : public CellConvPlan {
 public:
  DirectPlan(const CellConvArgs& a, Isa isa) : weight_(0), bias_(0) {
    int64_t cin = 0;
    bool all_f32 = true;
    for (const Plane& p : a.inputs) {
      cin += p.channels;
      all_f32 = all_f32 && p.dtype == DType::F32;
    }
    const int64_t cout = a.out_channels, G = a.groups, k = a.kernel;
    kernels_ = direct::kernels_generic();
    path_ = "generic/direct";
    if (static_cast<int>(isa) >= static_cast<int>(Isa::Avx512) && direct::kernels_avx512().row) {
      kernels_ = direct::kernels_avx512();
      path_ = "avx512/direct";
    } else if (static_cast<int>(isa) >= static_cast<int>(Isa::Avx2) && direct::kernels_avx2().row) {
      kernels_ = direct::kernels_avx2();
      path_ = "avx2/direct";
    }
    g_.cin = cin;
    g_.cout = cout;
    g_.k = k;
    g_.pad = k / 2;
    g_.taps = k * k;
    g_.relu = a.relu;
    g_.cstride = round_up(cin, 16);
    const int64_t cin_go = cin / G, cout_go = cout / G;  // the conv's own groups
    // Lane-FMAs per pixel and tap of each way to run a grouped conv: per group (cout_g
    // padded to whole vectors), one block-diagonal dense group, or spread (vectors across
    // output channels). Spread rows are cin_g times wider than the input and the kernel
    // loads a vector per 3 FMAs, so it wins only where it saves most multiplies (measured
    // on Zen 4: g4 16->16 2x faster, g4 32->32 and g2 16->16 no faster) and its ring of
    // rows stays in L2.
    const int64_t per_group = G * cin_go * round_up(cout_go, 16);
    const int64_t dense = cin * round_up(cout, 16);
    const int64_t spread = cin_go * round_up(cout, 16) * 3;
    const int64_t spread_ring_bytes = k * (a.width + 2 * (k / 2)) * cin_go * round_up(cout, 16) * 4;
    const bool depthwise = G > 1 && cin_go == 1 && cout_go == 1;
    g_.spread = depthwise || (G > 1 && spread < std::min(per_group, dense) &&
                              spread_ring_bytes <= (int64_t{1} << 19) &&
                              direct::spread_fits(cin, cout, G, g_.cstride, kernels_.lanes));
    g_.read_in_place = k == 1 && all_f32 && !g_.spread;
    if (g_.spread) {
      g_.groups = 1;
      g_.cin_g = cin_go;
      g_.cout_g = cout_go;
      g_.coutp = round_up(cout, 16);  // == cstride for depthwise
      g_.spread_copy = !depthwise;
      g_.sstride = depthwise ? g_.cstride : cin_go * g_.coutp;
      weight_ = AlignedFloats(static_cast<size_t>(g_.taps * cin_go * g_.coutp));
      bias_ = AlignedFloats(static_cast<size_t>(g_.coutp));
      for (int64_t oc = 0; oc < cout; ++oc) {
        bias_.data()[oc] = a.bias != nullptr ? a.bias[oc] : 0.0f;
        for (int64_t j = 0; j < cin_go; ++j) {
          for (int64_t t = 0; t < g_.taps; ++t) {
            weight_.data()[(t * cin_go + j) * g_.coutp + oc] = a.weight[(oc * cin_go + j) * g_.taps + t];
          }
        }
      }
    } else {
      const bool expand = G > 1 && dense <= per_group;
      g_.groups = expand ? 1 : G;
      g_.cin_g = expand ? cin : cin_go;
      g_.cout_g = expand ? cout : cout_go;
      g_.coutp = round_up(g_.cout_g, 16);
      const int64_t wgroup = g_.taps * g_.cin_g * g_.coutp;
      weight_ = AlignedFloats(static_cast<size_t>(g_.groups * wgroup));
      bias_ = AlignedFloats(static_cast<size_t>(g_.groups * g_.coutp));
      for (int64_t gp = 0; gp < g_.groups; ++gp) {
        for (int64_t co = 0; co < g_.cout_g; ++co) {
          const int64_t oc = gp * g_.cout_g + co;  // absolute output channel
          const int64_t go = oc / cout_go;          // its group in the conv
          bias_.data()[gp * g_.coutp + co] = a.bias != nullptr ? a.bias[oc] : 0.0f;
          for (int64_t ci = 0; ci < g_.cin_g; ++ci) {
            const int64_t ic = gp * g_.cin_g + ci;  // absolute input channel
            if (ic / cin_go != go) continue;        // off the block diagonal: zero
            for (int64_t t = 0; t < g_.taps; ++t) {
              weight_.data()[gp * wgroup + (t * g_.cin_g + ci) * g_.coutp + co] =
                  a.weight[(oc * cin_go + (ic - go * cin_go)) * g_.taps + t];
            }
          }
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
    num_segments_ = direct::segment_scratch(g_.taps, static_cast<int64_t>(a.inputs.size()));
  }
  DirectPlan(const DirectPlan&) = delete;
  DirectPlan& operator=(const DirectPlan&) = delete;

  int64_t num_tasks() const override { return batch_ * tasks_per_image_; }

  void run_tasks(const CellConvArgs& a, int64_t begin, int64_t end) const override {
    const bool gathers = !g_.read_in_place;
    const int64_t row_pixels = a.width + 2 * g_.pad;
    const int64_t row_elems = window_row_elems(a.width, g_.pad, g_.cstride);
    // Ring slots hold gathered rows, or spread rows built from one gathered temp row.
    const int64_t slot_elems = g_.spread_copy ? round_up(row_pixels * g_.sstride, 16) : row_elems;
    const int64_t temp_elems = g_.spread_copy ? round_up(row_elems, 16) : 0;
    thread_local std::vector<float> scratch;
    thread_local std::vector<Segment> segs;
    if (segs.size() < static_cast<size_t>(num_segments_)) segs.resize(static_cast<size_t>(num_segments_));
    const int64_t acc_elems = round_up(direct::acc_scratch(a.width), 16);
    const size_t need =
        static_cast<size_t>(acc_elems + (gathers ? g_.k * slot_elems + temp_elems : 0) + 16);
    if (scratch.size() < need) scratch.resize(need);
    float* acc = scratch.data() + ((64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64) / sizeof(float);
    float* temp = acc + acc_elems;
    float* base = temp + temp_elems;
    auto fill = [&](int64_t n, int64_t y, float* slot) {
      if (!g_.spread_copy) {
        gather_row<float>(a, n, y, g_.pad, g_.cstride, slot);
        return;
      }
      gather_row<float>(a, n, y, g_.pad, g_.cstride, temp);
      kernels_.spread(g_, temp, row_pixels, slot);
    };

    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / tasks_per_image_;
      const int64_t y0 = (t % tasks_per_image_) * rows_per_task_;
      const int64_t y1 = std::min(height_, y0 + rows_per_task_);
      const float* rows[3] = {nullptr, nullptr, nullptr};
      float* ring[3] = {nullptr, nullptr, nullptr};
      if (gathers) {
        for (int64_t ky = 0; ky < g_.k; ++ky) {
          ring[ky] = base + ky * slot_elems;
          fill(n, y0 - g_.pad + ky, ring[ky]);
        }
      }
      for (int64_t y = y0; y < y1; ++y) {
        if (gathers && y > y0) {  // slide the window down one row: reuse the oldest slot
          float* oldest = ring[0];
          for (int64_t ky = 0; ky + 1 < g_.k; ++ky) ring[ky] = ring[ky + 1];
          ring[g_.k - 1] = oldest;
          fill(n, y + g_.pad, oldest);
        }
        for (int64_t ky = 0; ky < g_.k; ++ky) rows[ky] = ring[ky];
        kernels_.row(g_, a, n, y, rows, segs.data(), acc);
      }
    }
  }

  std::string path() const override { return path_; }

 private:
  Geometry g_;
  AlignedFloats weight_, bias_;
  direct::Kernels kernels_;
  std::string path_;
  int64_t batch_ = 0, height_ = 0, rows_per_task_ = 1, tasks_per_image_ = 0, num_segments_ = 1;
};

}  // namespace

std::unique_ptr<CellConvPlan> make_direct_cell_conv_plan(const CellConvArgs& a, Isa isa) {
  return std::make_unique<DirectPlan>(a, isa);
}

}  // namespace falsr::core
