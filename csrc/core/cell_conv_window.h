// Row gathering shared by the cell_conv code paths: one input row of the (never
// materialised) concat of the input planes, converted to the compute type, with `pad`
// zero columns on each side and the channels padded with zeros up to `cstride`:
//
//   dst[(x + pad) * cstride + c] = concat(inputs)[n, y, x, c]   for 0 <= x < W, c < Cin
//   everything else in the row (borders, channel padding) = 0; a row y outside [0, H)
//   is all zeros (the conv's zero padding).
//
// A path keeps a ring of k such rows per task, so the inner loops never test borders.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/activation.h"
#include "core/cell_conv.h"

namespace falsr::core {

template <class T>
inline T convert_element(float v);
template <>
inline float convert_element<float>(float v) {
  return v;
}
template <>
inline uint16_t convert_element<uint16_t>(float v) {
  return float_to_bf16(v);
}

// Row length in elements for width W.
inline int64_t window_row_elems(int64_t width, int64_t pad, int64_t cstride) {
  return (width + 2 * pad) * cstride;
}

// T = float (fp32 compute) or uint16_t (bf16 bits, for AMX / avx512_bf16).
template <class T>
void gather_row(const CellConvArgs& a, int64_t n, int64_t y, int64_t pad, int64_t cstride,
                T* dst) {
  const int64_t row = window_row_elems(a.width, pad, cstride);
  if (y < 0 || y >= a.height) {
    std::memset(dst, 0, sizeof(T) * row);
    return;
  }
  std::memset(dst, 0, sizeof(T) * pad * cstride);
  std::memset(dst + (a.width + pad) * cstride, 0, sizeof(T) * pad * cstride);
  int64_t c0 = 0;
  for (const Plane& p : a.inputs) {
    const int64_t base = (n * a.height + y) * a.width * p.pixel_stride;
    for (int64_t x = 0; x < a.width; ++x) {
      T* d = dst + (x + pad) * cstride + c0;
      if (p.dtype == DType::F32) {
        const float* s = static_cast<const float*>(p.data) + base + x * p.pixel_stride;
        if constexpr (sizeof(T) == 4) {
          std::memcpy(d, s, sizeof(float) * p.channels);
        } else {
          for (int64_t c = 0; c < p.channels; ++c) d[c] = convert_element<T>(s[c]);
        }
      } else {
        const uint16_t* s = static_cast<const uint16_t*>(p.data) + base + x * p.pixel_stride;
        if constexpr (sizeof(T) == 2) {
          std::memcpy(d, s, sizeof(uint16_t) * p.channels);
        } else {
          for (int64_t c = 0; c < p.channels; ++c) d[c] = bf16_to_float(s[c]);
        }
      }
    }
    c0 += p.channels;
  }
  if (c0 < cstride) {
    for (int64_t x = 0; x < a.width; ++x) {
      std::memset(dst + (x + pad) * cstride + c0, 0, sizeof(T) * (cstride - c0));
    }
  }
}

}  // namespace falsr::core
