// The small-groups cell_conv path: 1 < groups, G in {2, 4, 8, 16} dividing the vector
// lanes, k 1 or 3, any mix of fp32 / bf16 planes, fused bias / ReLU / residual, fp32 or
// bf16 output. Vectors across the output channels of all groups (layouts:
// cell_conv_grouped.h), so no multiply is spent off the block diagonal; fp32 FMAs, or bf16
// dot products (vdpbf16ps) when every input is bf16 and the CPU has avx512_bf16. A task is
// (image, block of output rows) with a ring of k reordered input rows (zero borders).
// Taken where it multiplies clearly fewer lanes than the dense / per-group direct paths.
#include "core/cell_conv_grouped.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/cell_conv_lanes.h"
#include "core/cell_conv_paths.h"
#include "core/cell_conv_window.h"
#include "core/target.h"

namespace falsr::core {
namespace grouped {

namespace generic_isa {
using V = lanes::Generic;
struct Madd {
  static V::reg madd(V::reg acc, V::reg s, V::reg w) { return V::fma(s, w, acc); }
};
#include "core/cell_conv_grouped_kernels.inc"
}  // namespace generic_isa
RowKernel row_kernel_generic(int64_t groups) { return generic_isa::row_kernel_for(groups); }

#if defined(__x86_64__) && defined(__GNUC__)
FALSR_TARGET_PUSH("avx2,fma")
namespace avx2_isa {
using V = lanes::Avx2;
struct Madd {
  static V::reg madd(V::reg acc, V::reg s, V::reg w) { return V::fma(s, w, acc); }
};
#include "core/cell_conv_grouped_kernels.inc"
}  // namespace avx2_isa
FALSR_TARGET_POP

FALSR_TARGET_PUSH("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#pragma GCC diagnostic push
FALSR_IGNORE_MAYBE_UNINITIALIZED
#pragma GCC diagnostic ignored "-Wuninitialized"
namespace avx512_isa {
using V = lanes::Avx512;
struct Madd {
  static V::reg madd(V::reg acc, V::reg s, V::reg w) { return V::fma(s, w, acc); }
};
#include "core/cell_conv_grouped_kernels.inc"
}  // namespace avx512_isa
#pragma GCC diagnostic pop
FALSR_TARGET_POP

FALSR_TARGET_PUSH("avx512f,avx512vl,avx512bw,avx512dq,avx512bf16,avx2,fma")
#pragma GCC diagnostic push
FALSR_IGNORE_MAYBE_UNINITIALIZED
#pragma GCC diagnostic ignored "-Wuninitialized"
namespace avx512_bf16_isa {
using V = lanes::Avx512;
struct Madd {  // lane c: acc + s.lo * w.lo + s.hi * w.hi (bf16 pairs)
  static V::reg madd(V::reg acc, V::reg s, V::reg w) {
    return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(s), reinterpret_cast<__m512bh>(w));
  }
};
#include "core/cell_conv_grouped_kernels.inc"
}  // namespace avx512_bf16_isa
#pragma GCC diagnostic pop
FALSR_TARGET_POP

FALSR_TARGET_PUSH("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#pragma GCC diagnostic push
FALSR_IGNORE_MAYBE_UNINITIALIZED
#pragma GCC diagnostic ignored "-Wuninitialized"
// The reorder of one row with AVX-512 for G = 2 and 4 (see scalar_reorder): per chunk
// of 16 outputs, one (masked) load of each group's run of 16 / G steps, then one permute.
template <int G>
void reorder_avx512(const float* src, int64_t sstride, int64_t pixels, int64_t J, float* dst) {
  constexpr int Q = 16 / G;  // steps per chunk
  alignas(64) int32_t idx[16];
  for (int jj = 0; jj < Q; ++jj) {
    for (int g = 0; g < G; ++g) idx[jj * G + g] = g * Q + jj;
  }
  const __m512i perm = _mm512_load_si512(idx);
  const int64_t rs = J * G;
  for (int64_t x = 0; x < pixels; ++x) {
    const float* s = src + x * sstride;
    float* d = dst + x * rs;
    for (int64_t jc = 0; jc < J; jc += Q) {
      const int live = static_cast<int>(std::min<int64_t>(Q, J - jc));
      __m512 v;
      if constexpr (G == 4) {
        const __mmask8 m = static_cast<__mmask8>((1u << live) - 1u);
        v = _mm512_castps128_ps512(_mm_maskz_loadu_ps(m, s + jc));
        v = _mm512_insertf32x4(v, _mm_maskz_loadu_ps(m, s + J + jc), 1);
        v = _mm512_insertf32x4(v, _mm_maskz_loadu_ps(m, s + 2 * J + jc), 2);
        v = _mm512_insertf32x4(v, _mm_maskz_loadu_ps(m, s + 3 * J + jc), 3);
      } else {
        const __mmask8 m = static_cast<__mmask8>((1u << live) - 1u);
        v = _mm512_castps256_ps512(_mm256_maskz_loadu_ps(m, s + jc));
        v = _mm512_insertf32x8(v, _mm256_maskz_loadu_ps(m, s + J + jc), 1);
      }
      const __mmask16 out = static_cast<__mmask16>((1u << (live * G)) - 1u);
      _mm512_mask_storeu_ps(d + jc * G, out, _mm512_permutexvar_ps(perm, v));
    }
  }
}
// Pixels of at most 32 elements (any G): two loads and one two-source permute per 16.
void reorder_avx512_narrow(const float* src, int64_t sstride, int64_t pixels, int64_t J,
                           int64_t G, float* dst) {
  const int64_t rs = J * G;
  alignas(64) int32_t idx[32];
  for (int64_t i = 0; i < 32; ++i) idx[i] = static_cast<int32_t>(i < rs ? (i % G) * J + i / G : 0);
  const __m512i idx0 = _mm512_load_si512(idx), idx1 = _mm512_load_si512(idx + 16);
  const auto mask = [](int64_t n) {
    return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << std::max<int64_t>(n, 0)) - 1u);
  };
  const __mmask16 m0 = mask(rs), m1 = mask(rs - 16);
  for (int64_t x = 0; x < pixels; ++x) {
    const float* s = src + x * sstride;
    const __m512 lo = _mm512_maskz_loadu_ps(m0, s), hi = _mm512_maskz_loadu_ps(m1, s + 16);
    _mm512_mask_storeu_ps(dst + x * rs, m0, _mm512_permutex2var_ps(lo, idx0, hi));
    if (rs > 16) _mm512_mask_storeu_ps(dst + x * rs + 16, m1, _mm512_permutex2var_ps(lo, idx1, hi));
  }
}
void reorder_narrow_2(const float* s, int64_t ss, int64_t px, int64_t J, float* d) { reorder_avx512_narrow(s, ss, px, J, 2, d); }
void reorder_narrow_4(const float* s, int64_t ss, int64_t px, int64_t J, float* d) { reorder_avx512_narrow(s, ss, px, J, 4, d); }
void reorder_narrow_8(const float* s, int64_t ss, int64_t px, int64_t J, float* d) { reorder_avx512_narrow(s, ss, px, J, 8, d); }
void reorder_narrow_16(const float* s, int64_t ss, int64_t px, int64_t J, float* d) { reorder_avx512_narrow(s, ss, px, J, 16, d); }
#pragma GCC diagnostic pop
FALSR_TARGET_POP
Reorder reorder_kernel_avx512(int64_t groups, int64_t steps) {
  if (groups * steps <= 32) {
    switch (groups) {
      case 2: return &reorder_narrow_2;
      case 4: return &reorder_narrow_4;
      case 8: return &reorder_narrow_8;
      case 16: return &reorder_narrow_16;
      default: return nullptr;
    }
  }
  return groups == 2 ? &reorder_avx512<2> : groups == 4 ? &reorder_avx512<4> : nullptr;
}

RowKernel row_kernel_avx2(int64_t groups) { return avx2_isa::row_kernel_for(groups); }
RowKernel row_kernel_avx512(int64_t groups) { return avx512_isa::row_kernel_for(groups); }
RowKernel row_kernel_avx512_bf16(int64_t groups) { return avx512_bf16_isa::row_kernel_for(groups); }
#else
RowKernel row_kernel_avx2(int64_t) { return nullptr; }
RowKernel row_kernel_avx512(int64_t) { return nullptr; }
RowKernel row_kernel_avx512_bf16(int64_t) { return nullptr; }
Reorder reorder_kernel_avx512(int64_t, int64_t) { return nullptr; }
#endif

// dst[x * J * G + j * G + g] = src[x * sstride + g * J + j]: the pixels' 32-bit elements
// (floats, or bf16 pairs) from group-major to step-major order.
void reorder_scalar(const float* src, int64_t sstride, int64_t pixels, int64_t J, int64_t G,
                    float* dst) {
  for (int64_t x = 0; x < pixels; ++x) {
    for (int64_t g = 0; g < G; ++g) {
      for (int64_t j = 0; j < J; ++j) {  // memcpy: the elements may be bf16 pairs
        std::memcpy(dst + x * J * G + j * G + g, src + x * sstride + g * J + j, sizeof(float));
      }
    }
  }
}

}  // namespace grouped

namespace {

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

uint32_t pair_bits(float lo, float hi) {
  return static_cast<uint32_t>(float_to_bf16(lo)) | (static_cast<uint32_t>(float_to_bf16(hi)) << 16);
}

float as_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

class GroupedPlan final : public CellConvPlan {
 public:
  GroupedPlan(const CellConvArgs& a, int64_t cin, int lanes, bool dot, grouped::RowKernel row,
              std::string path)
      : row_(row), path_(std::move(path)) {
    grouped::Geometry& g = g_;
    g.cin = cin;
    g.cout = a.out_channels;
    g.groups = a.groups;
    g.cin_g = cin / a.groups;
    g.cout_g = a.out_channels / a.groups;
    g.k = a.kernel;
    g.pad = a.kernel / 2;
    g.taps = a.kernel * a.kernel;
    g.lanes = lanes;
    g.q = lanes / g.groups;
    g.blocks = (g.cout_g + g.q - 1) / g.q;
    g.dot = dot;
    g.steps = dot ? (g.cin_g + 1) / 2 : g.cin_g;
    g.rs = g.steps * g.groups;
    g.channel_order = g.blocks == 1 && g.q == g.cout_g;
    g.relu = a.relu;
    const int64_t L = lanes;
    weight_.assign(static_cast<size_t>(g.blocks * g.taps * g.steps * L), 0.0f);
    bias_.assign(static_cast<size_t>(g.blocks * L), 0.0f);
    chan_.assign(static_cast<size_t>(g.blocks * L), -1);
    perm_.assign(static_cast<size_t>(L), 0);
    for (int64_t b = 0; b < g.blocks; ++b) {
      for (int64_t l = 0; l < L; ++l) {
        const int64_t grp = l % g.groups, o = b * g.q + l / g.groups;
        if (o >= g.cout_g) continue;  // padding lane: zero weights, never stored
        const int64_t oc = grp * g.cout_g + o;
        chan_[b * L + l] = static_cast<int32_t>(oc);
        if (g.channel_order) perm_[oc] = static_cast<int32_t>(l);
        bias_[b * L + l] = a.bias != nullptr ? a.bias[oc] : 0.0f;
        for (int64_t t = 0; t < g.taps; ++t) {
          for (int64_t j = 0; j < g.steps; ++j) {
            auto w = [&](int64_t ci) {  // weight of input channel ci of the group; 0 past it
              return ci < g.cin_g ? a.weight[(oc * g.cin_g + ci) * g.taps + t] : 0.0f;
            };
            weight_[((b * g.taps + t) * g.steps + j) * L + l] =
                dot ? as_float(pair_bits(w(2 * j), w(2 * j + 1))) : w(j);
          }
        }
      }
    }
    // Where each input channel of the concat lands in a reordered pixel (elements of
    // 32 bits, or of 16 bits with dot products).
    for (int64_t c = 0; c < cin; ++c) {
      const int64_t grp = c / g.cin_g, j = c % g.cin_g;
      dest_.push_back(dot ? ((j / 2) * g.groups + grp) * 2 + j % 2 : j * g.groups + grp);
    }
    per_channel_ = dot && g.cin_g % 2 != 0;
    const Plane& p0 = a.inputs[0];
    in_place_ = a.inputs.size() == 1 && (dot ? p0.pixel_stride % 2 == 0 : p0.dtype == DType::F32);
    if (lanes == 16) reorder_ = grouped::reorder_kernel_avx512(g.groups, g.steps);
    g.weight = weight_.data();
    g.bias = bias_.data();
    g.perm = perm_.data();
    g.chan = chan_.data();
    batch_ = a.batch;
    height_ = a.height;
    rows_per_task_ = std::clamp<int64_t>((a.height + 15) / 16, 1, 8);
    tasks_per_image_ = (a.height + rows_per_task_ - 1) / rows_per_task_;
  }

  int64_t num_tasks() const override { return batch_ * tasks_per_image_; }

  void run_tasks(const CellConvArgs& a, int64_t begin, int64_t end) const override {
    const int64_t k = g_.k, pad = g_.pad;
    const int64_t slot = round_up((a.width + 2 * pad) * g_.rs, 16);
    const int64_t tile = round_up(grouped::kTilePixels * g_.cout, 16);
    thread_local std::vector<float> scratch;
    const int64_t temp_floats = in_place_ || per_channel_ ? 0 : round_up(a.width * g_.cin, 16);
    const size_t need = static_cast<size_t>(tile + temp_floats + k * slot + 16);
    if (scratch.size() < need) scratch.resize(need);
    float* tile_buf = scratch.data() + ((64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64) / sizeof(float);
    float* temp = tile_buf + tile;
    float* base = temp + temp_floats;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / tasks_per_image_;
      const int64_t y0 = (t % tasks_per_image_) * rows_per_task_;
      const int64_t y1 = std::min(height_, y0 + rows_per_task_);
      float* ring[3] = {nullptr, nullptr, nullptr};
      for (int64_t ky = 0; ky < k; ++ky) {
        ring[ky] = base + ky * slot;
        fill(a, n, y0 - pad + ky, ring[ky], temp);
      }
      for (int64_t y = y0; y < y1; ++y) {
        if (y > y0) {  // slide the window down one row: reuse the oldest slot
          float* oldest = ring[0];
          for (int64_t ky = 0; ky + 1 < k; ++ky) ring[ky] = ring[ky + 1];
          ring[k - 1] = oldest;
          fill(a, n, y + pad, oldest, temp);
        }
        const float* rows[3] = {ring[0], ring[1], ring[2]};
        row_(g_, a, n, y, rows, tile_buf);
      }
    }
  }

  std::string path() const override { return path_; }

 private:
  // Reordered input row y (zeros outside the image and in the border pixels). temp:
  // W * cin floats for the concat of several planes.
  void fill(const CellConvArgs& a, int64_t n, int64_t y, float* dst, float* temp) const {
    const int64_t pad = g_.pad, rs = g_.rs, W = a.width;
    if (y < 0 || y >= a.height || per_channel_) {
      // Out of the image, or the odd channel's partners (never written) must be zero.
      std::memset(dst, 0, sizeof(float) * static_cast<size_t>((W + 2 * pad) * rs));
      if (y < 0 || y >= a.height) return;
    } else {
      std::memset(dst, 0, sizeof(float) * static_cast<size_t>(pad * rs));
      std::memset(dst + (W + pad) * rs, 0, sizeof(float) * static_cast<size_t>(pad * rs));
    }
    if (per_channel_) {  // bf16 pairs across an odd cin_g: channel by channel
      const int64_t* dest = dest_.data();
      for (const Plane& p : a.inputs) {
        const int64_t row = (n * a.height + y) * W * p.pixel_stride, C = p.channels;
        for (int64_t x = 0; x < W; ++x) {
          const uint16_t* s = static_cast<const uint16_t*>(p.data) + row + x * p.pixel_stride;
          uint16_t* d = reinterpret_cast<uint16_t*>(dst + (x + pad) * rs);
          for (int64_t c = 0; c < C; ++c) d[dest[c]] = s[c];
        }
        dest += C;
      }
      return;
    }
    // The concat as group-major 32-bit elements: the plane itself, or gathered.
    const float* src;
    int64_t sstride;
    if (in_place_) {
      const Plane& p = a.inputs[0];
      const int64_t esize = p.dtype == DType::BF16 ? 2 : 4;
      src = reinterpret_cast<const float*>(static_cast<const char*>(p.data) +
                                           (n * a.height + y) * W * p.pixel_stride * esize);
      sstride = p.pixel_stride * esize / 4;
    } else if (g_.dot) {
      gather_row<uint16_t>(a, n, y, 0, g_.cin, reinterpret_cast<uint16_t*>(temp));
      src = temp;
      sstride = g_.cin / 2;
    } else {
      gather_row<float>(a, n, y, 0, g_.cin, temp);
      src = temp;
      sstride = g_.cin;
    }
    if (reorder_ != nullptr) {
      reorder_(src, sstride, W, g_.steps, dst + pad * rs);
    } else {
      grouped::reorder_scalar(src, sstride, W, g_.steps, g_.groups, dst + pad * rs);
    }
  }

  grouped::Geometry g_;
  grouped::RowKernel row_;
  std::string path_;
  std::vector<float> weight_, bias_;
  std::vector<int32_t> chan_, perm_;
  std::vector<int64_t> dest_;
  grouped::Reorder reorder_ = nullptr;
  bool per_channel_ = false;  // bf16 pairs with odd cin_g: the per-channel fill
  bool in_place_ = false;     // the one plane is already group-major 32-bit elements
  int64_t batch_ = 0, height_ = 0, rows_per_task_ = 1, tasks_per_image_ = 0;
};

}  // namespace

std::unique_ptr<CellConvPlan> make_grouped_cell_conv_plan(const CellConvArgs& a, Isa isa) {
  const int64_t G = a.groups;
  if (G < 2 || (a.kernel != 1 && a.kernel != 3)) return nullptr;
  int64_t cin = 0;
  bool all_bf16 = true;
  for (const Plane& p : a.inputs) {
    cin += p.channels;
    all_bf16 = all_bf16 && p.dtype == DType::BF16;
  }
  const int64_t cin_g = cin / G, cout_g = a.out_channels / G, taps = a.kernel * a.kernel;
  if (cin_g == 1 && cout_g == 1) return nullptr;  // depthwise
  const int level = static_cast<int>(isa);
  const bool dot = all_bf16 && level >= static_cast<int>(Isa::Avx512Bf16) &&
                   static_cast<int>(cpu_isa()) >= static_cast<int>(Isa::Avx512Bf16);
  grouped::RowKernel row = nullptr;
  int lanes = 0;
  std::string path;
  if (dot) {
    row = grouped::row_kernel_avx512_bf16(G), lanes = 16, path = "avx512_bf16/grouped";
  } else if (level >= static_cast<int>(Isa::Avx512)) {
    row = grouped::row_kernel_avx512(G), lanes = 16, path = "avx512/grouped";
  } else if (level >= static_cast<int>(Isa::Avx2)) {
    row = grouped::row_kernel_avx2(G), lanes = 8, path = "avx2/grouped";
  } else {
    row = grouped::row_kernel_generic(G), lanes = 4, path = "generic/grouped";
  }
  if (row == nullptr) return nullptr;  // G does not divide the lanes
  // Vector multiply instructions per pixel against the path that would run otherwise:
  // the avx512_bf16 direct path (bf16 pairs, dense block-diagonal, which it takes only when
  // that is no wider than per group), else the fp32 direct path (dense block-diagonal or
  // per group, cout padded to 16 lanes). Only a clear win pays for the reordered rows.
  const int64_t blocks = (cout_g + lanes / G - 1) / (lanes / G);
  const int64_t ours = taps * (dot ? (cin_g + 1) / 2 : cin_g) * blocks * lanes;
  const int64_t dense = taps * cin * round_up(a.out_channels, 16);
  const int64_t per_group = taps * cin * round_up(cout_g, 16);
  const int64_t theirs = dot && dense <= per_group
                             ? taps * ((cin + 1) / 2) * round_up(a.out_channels, 16)
                             : std::min(dense, per_group);
  if (2 * ours > theirs) return nullptr;
  return std::make_unique<GroupedPlan>(a, cin, lanes, dot, row, path);
}

}  // namespace falsr::core
