// The arithmetic of the CUDA rgb_to_luma for one pixel, shared with plain C++ (the C++
// test runs it on the CPU against core::rgb_to_luma): samples scaled to [0, 1] in double,
// Y = 0.299 R + 0.587 G + 0.114 B in double with every product and sum rounded
// separately (no FMA: nvcc would contract a * b + c, so the device code spells out
// __dmul_rn / __dadd_rn), then rounded to float. Bit for bit the CPU op's result.
#pragma once

#include <cstdint>

#include "core/colour.h"  // core::PixelType
#include "core/pixel_shuffle_index.h"  // FALSR_HD_INLINE

namespace falsr::cuda {

template <class In>
FALSR_HD_INLINE double luma_unit(In v) {
  if constexpr (sizeof(In) == 1) {
    return static_cast<double>(v) / 255.0;
  } else if constexpr (sizeof(In) == 2) {
    return static_cast<double>(v) / 65535.0;
  } else {
    return static_cast<double>(v);
  }
}

FALSR_HD_INLINE double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

FALSR_HD_INLINE double add_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

// Luma of pixel (y, x) of an RGB image with the given strides (in elements).
template <class In>
FALSR_HD_INLINE float luma_point(const In* src, int64_t y, int64_t x, int64_t row_stride,
                                 int64_t pixel_stride) {
  const In* px = src + y * row_stride + x * pixel_stride;
  const double r = mul_rn(luma_unit(px[0]), 0.299);
  const double g = mul_rn(luma_unit(px[1]), 0.587);
  const double b = mul_rn(luma_unit(px[2]), 0.114);
  return static_cast<float>(add_rn(add_rn(r, g), b));
}

}  // namespace falsr::cuda
