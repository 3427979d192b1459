// The arithmetic of the CUDA sub-pixel convolution (the FALSR tail, core/subpixel_conv.h)
// for one output element, shared with plain C++: subpixel_conv_cuda.cu runs it once per
// thread and csrc/core/tests/test_cuda_arith.cpp runs it on the CPU against
// core::subpixel_conv_naive.
//
//   out[n, co, y, x] = bias[co] + sum_{c, ky, kx} weight[co, c, ky, kx] *
//                      (x + residual)[LR element feeding HR (n, c, y + ky - r, x + kx - r)]
// zero outside the HR image. x + residual is summed in fp32 (each rounded from its
// storage), products accumulate in fp32 with fmaf, the result is rounded once.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/subpixel_conv_index.h"
#include "cuda/arith.h"

namespace falsr::cuda {

struct SubpixelConvParams {
  core::SubpixelConvGeometry g{};
  const void* x = nullptr;         // [N, C*s*s, H, W] in `layout`, `type`
  const void* residual = nullptr;  // same as x, or null
  const float* weight = nullptr;   // [Cout, C, k, k] fp32 contiguous
  const float* bias = nullptr;     // [Cout] fp32 or null
  void* out = nullptr;             // [N, Cout, H*s, W*s] in `layout`, `type`
  StorageType type = StorageType::F32;
  core::ChannelOrder order = core::ChannelOrder::Torch;
  core::Layout layout = core::Layout::NCHW;
};

// Computes and stores the output element at element offset `offset` of `out`.
template <StorageType T>
FALSR_HD_INLINE void subpixel_conv_point(const SubpixelConvParams& p, int64_t offset) {
  const core::SubpixelConvGeometry& g = p.g;
  const int64_t ho = g.h * g.s, wo = g.w * g.s;
  int64_t n, co, y, x;
  core::ps_dst_coords<int64_t>(offset, g.c_out, ho, wo, p.layout, &n, &co, &y, &x);
  const int64_t r = g.k / 2;
  float acc = p.bias != nullptr ? p.bias[co] : 0.0f;
  for (int64_t ky = 0; ky < g.k; ++ky) {
    const int64_t hy = y + ky - r;
    if (hy < 0 || hy >= ho) continue;
    for (int64_t kx = 0; kx < g.k; ++kx) {
      const int64_t hx = x + kx - r;
      if (hx < 0 || hx >= wo) continue;
      for (int64_t c = 0; c < g.c_hr; ++c) {
        const int64_t src = core::spc_lr_offset<int64_t>(n, c, hy, hx, g, p.order, p.layout);
        float v = load_t<T>(p.x, src);
        if (p.residual != nullptr) v += load_t<T>(p.residual, src);
        acc = fmaf(v, p.weight[core::spc_weight_offset<int64_t>(co, c, ky, kx, g.c_hr, g.k)],
                   acc);
      }
    }
  }
  store_from_float(p.out, offset, T, acc);
}

}  // namespace falsr::cuda
