// Views of NHWC activations on plain pointers, shared by the fused CPU ops
// (cell_conv, inverted_bottleneck): element (n, y, x, c) of a plane lives at
//   data + ((n * height + y) * width + x) * pixel_stride + c
// so a plane may be a channel slice of a wider NHWC buffer (pixel_stride > channels).
#pragma once

#include <cstdint>

namespace falsr::core {

enum class DType : int { F32 = 0, BF16 = 1 };

struct Plane {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t channels = 0;
  int64_t pixel_stride = 0;  // elements between neighbouring pixels (>= channels)
};

struct MutPlane {
  void* data = nullptr;
  DType dtype = DType::F32;
  int64_t channels = 0;
  int64_t pixel_stride = 0;
};

// bf16 <-> fp32, round to nearest even (as PyTorch's c10::BFloat16), NaN kept NaN.
inline float bf16_to_float(uint16_t b) {
  union {
    uint32_t u;
    float f;
  } v{static_cast<uint32_t>(b) << 16};
  return v.f;
}

inline uint16_t float_to_bf16(float f) {
  union {
    float f;
    uint32_t u;
  } v{f};
  if ((v.u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((v.u >> 16) | 0x40u);
  const uint32_t rounding = 0x7fffu + ((v.u >> 16) & 1u);
  return static_cast<uint16_t>((v.u + rounding) >> 16);
}

}  // namespace falsr::core
