// The arithmetic of the CUDA cell convolution for one output pixel and COB consecutive
// output channels, shared with plain C++: the kernels in cell_conv_cuda.cu call
// cell_conv_point() once per thread, and csrc/core/tests/test_cuda_arith.cpp calls it in
// loops on the CPU against a double-precision reference (no GPU needed).
//
// Semantics are core/cell_conv.h's (concat read in place, groups, bias, ReLU, residual),
// plus fp16 planes and up to two residuals (the inverted bottleneck's x + extra):
//   out = act(conv(cat(inputs)) + bias) + residual0 [+ residual1]
// Products and sums are fp32 with fmaf (identical on host and device); the output is
// rounded once to its storage type.
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda/arith.h"

namespace falsr::cuda {

constexpr int kMaxConvInputs = 32;
constexpr int kMaxConvResiduals = 2;

// Everything one launch needs, trivially copyable (a kernel parameter).
struct CellConvParams {
  int64_t batch = 0, height = 0, width = 0;
  int32_t num_inputs = 0;
  DevPlane inputs[kMaxConvInputs];  // concatenated in this order
  const float* weight = nullptr;    // [Cout, Cin/groups, k, k] fp32 (PyTorch's layout)
  const float* bias = nullptr;      // [Cout] fp32 or null
  int64_t in_channels = 0, out_channels = 0;
  int32_t kernel = 3;  // 1 or 3, padding kernel / 2
  int64_t groups = 1;
  bool relu = false;
  int32_t num_residuals = 0;
  DevPlane residuals[kMaxConvResiduals];  // out_channels each
  DevMutPlane out;
  // Dense convs on 16-bit inputs may run on tensor cores (cell_conv_mma.h: weights rounded
  // to the inputs' type); false keeps the fp32-FMA direct kernel (the op's direct_only).
  bool allow_tensor_cores = true;
};

// Weights read straight from PyTorch's [Cout, Cin/g, k, k] layout.
struct GlobalWeights {
  const float* w;
  int64_t cig;  // input channels per group
  int32_t kk;   // k * k
  int64_t co0;  // first output channel of the thread's block
  FALSR_HD_INLINE float operator()(int64_t ci, int32_t tap, int32_t j) const {
    return w[((co0 + j) * cig + ci) * kk + tap];
  }
};

// Weights of one block of `cob` output channels packed as [cig][k*k][cob] (the layout the
// kernel stages in shared memory: a thread reads its cob weights consecutively).
struct PackedWeights {
  const float* w;
  int32_t kk;
  int32_t cob;
  FALSR_HD_INLINE float operator()(int64_t ci, int32_t tap, int32_t j) const {
    return w[(ci * kk + tap) * cob + j];
  }
};

// Index in PyTorch's weight layout of element `idx` of the packed block starting at
// output channel co0 (used to fill shared memory; the C++ test packs with it too).
FALSR_HD_INLINE int64_t packed_weight_source(int64_t idx, int64_t cig, int32_t kk, int32_t cob,
                                             int64_t co0) {
  const int32_t j = static_cast<int32_t>(idx % cob);
  const int64_t rest = idx / cob;
  const int32_t tap = static_cast<int32_t>(rest % kk);
  const int64_t ci = rest / kk;
  return ((co0 + j) * cig + ci) * kk + tap;
}

// acc[j] += sum over `count` channels starting at element `offset` of `data` (group-local
// input channel ci0 onwards) of value * weight(ci, tap, j).
template <StorageType T, int COB, class W>
FALSR_HD_INLINE void accumulate_channels(const void* data, int64_t offset, int64_t count,
                                         int64_t ci0, int32_t tap, const W& w, float* acc) {
  for (int64_t c = 0; c < count; ++c) {
    const float v = load_t<T>(data, offset + c);
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int j = 0; j < COB; ++j) acc[j] = fmaf(v, w(ci0 + c, tap, j), acc[j]);
  }
}

// Output channels [co0, co0 + COB) of pixel `pixel` (= (n * H + y) * W + x). The block
// must lie in one group (COB divides Cout / groups, co0 a multiple of COB).
template <int COB, class W>
FALSR_HD_INLINE void cell_conv_point(const CellConvParams& p, int64_t pixel, int64_t co0,
                                     const W& w) {
  const int64_t x = pixel % p.width;
  const int64_t ny = pixel / p.width;
  const int64_t y = ny % p.height;
  const int64_t n = ny / p.height;
  const int64_t cig = p.in_channels / p.groups;
  const int64_t cog = p.out_channels / p.groups;
  const int64_t c_begin = (co0 / cog) * cig;  // the group's first concat channel
  const int64_t c_end = c_begin + cig;
  const int32_t k = p.kernel, r = k / 2;

  float acc[COB];
  for (int j = 0; j < COB; ++j) acc[j] = p.bias != nullptr ? p.bias[co0 + j] : 0.0f;

  for (int32_t ky = 0; ky < k; ++ky) {
    const int64_t iy = y + ky - r;
    if (iy < 0 || iy >= p.height) continue;
    for (int32_t kx = 0; kx < k; ++kx) {
      const int64_t ix = x + kx - r;
      if (ix < 0 || ix >= p.width) continue;
      const int64_t src = (n * p.height + iy) * p.width + ix;
      const int32_t tap = ky * k + kx;
      int64_t plane_c0 = 0;  // concat channel of the plane's channel 0
      for (int32_t i = 0; i < p.num_inputs; ++i) {
        const DevPlane& pl = p.inputs[i];
        const int64_t lo = plane_c0 > c_begin ? plane_c0 : c_begin;
        const int64_t plane_end = plane_c0 + pl.channels;
        const int64_t hi = plane_end < c_end ? plane_end : c_end;
        if (lo < hi) {
          const int64_t off = plane_offset(src, pl.pixel_stride, lo - plane_c0);
          const int64_t ci0 = lo - c_begin;
          switch (pl.type) {
            case StorageType::F32:
              accumulate_channels<StorageType::F32, COB>(pl.data, off, hi - lo, ci0, tap, w, acc);
              break;
            case StorageType::BF16:
              accumulate_channels<StorageType::BF16, COB>(pl.data, off, hi - lo, ci0, tap, w,
                                                          acc);
              break;
            default:
              accumulate_channels<StorageType::F16, COB>(pl.data, off, hi - lo, ci0, tap, w, acc);
              break;
          }
        }
        plane_c0 = plane_end;
      }
    }
  }

  for (int j = 0; j < COB; ++j) {
    float v = p.relu ? relu_f(acc[j]) : acc[j];
    for (int32_t i = 0; i < p.num_residuals; ++i) {
      const DevPlane& rp = p.residuals[i];
      v += load_as_float(rp.data, plane_offset(pixel, rp.pixel_stride, co0 + j), rp.type);
    }
    store_from_float(p.out.data, plane_offset(pixel, p.out.pixel_stride, co0 + j), p.out.type,
                     v);
  }
}

// Output channels per thread: the largest of 8, 4, 2, 1 dividing Cout / groups.
inline int cell_conv_block(int64_t out_per_group) {
  for (int b : {8, 4, 2}) {
    if (out_per_group % b == 0) return b;
  }
  return 1;
}

}  // namespace falsr::cuda
