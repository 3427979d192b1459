// Arithmetic shared by the CUDA kernels and plain C++: element conversions of the
// storage types (fp32 / bf16 / fp16, fp32 arithmetic) and the NHWC plane addressing.
// Every function is __host__ __device__ under nvcc and plain inline under g++, so
// csrc/core/tests/test_cuda_arith.cpp checks the GPU's math on any machine against the
// CPU helpers (core/activation.h, core/subpixel_conv_index.h).
//
// Only <cstdint> / <cstring>: no CUDA headers (the fp16 and bf16 conversions are done
// on the bits, so device and host round identically: to nearest even, NaN kept NaN).
#pragma once

#include <cstdint>
#include <cstring>

#include "core/pixel_shuffle_index.h"  // FALSR_HD_INLINE

namespace falsr::cuda {

// Storage type of an activation plane. F32 and BF16 have core::DType's values.
enum class StorageType : int32_t { F32 = 0, BF16 = 1, F16 = 2 };

FALSR_HD_INLINE int64_t storage_bytes(StorageType t) { return t == StorageType::F32 ? 4 : 2; }

FALSR_HD_INLINE uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
#endif
}

FALSR_HD_INLINE float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
#endif
}

// bf16 bits -> float (exact).
FALSR_HD_INLINE float bf16_bits_to_float(uint16_t b) {
  return bits_float(static_cast<uint32_t>(b) << 16);
}

// float -> bf16 bits, round to nearest even, NaN -> quiet NaN (as core::float_to_bf16
// and c10::BFloat16).
FALSR_HD_INLINE uint16_t float_to_bf16_bits(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// IEEE binary16 bits -> float (exact: every half is a float).
FALSR_HD_INLINE float f16_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return bits_float(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  if (exp != 0) return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return bits_float(sign);  // +-0
  // Subnormal: mant * 2^-24, normalised.
  uint32_t e = 113u;
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return bits_float(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

// float -> IEEE binary16 bits, round to nearest even (as __float2half_rn and
// c10::Half), overflow -> inf, NaN -> 0x7e00 with its sign (as c10::Half).
FALSR_HD_INLINE uint16_t float_to_f16_bits(float f) {
  const uint32_t u = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: inf
  if (a >= 0x38800000u) {  // normal half (>= 2^-14)
    const uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - (112u << 23);
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  if (a < 0x33000000u) return sign;  // < 2^-25: rounds to zero (2^-25 itself is a tie to 0)
  // Subnormal half: value = m * 2^-24 with m = round(full mantissa >> shift).
  const uint32_t exp = a >> 23;                       // 102 .. 112
  const uint32_t full = (a & 0x7fffffu) | 0x800000u;  // 24-bit significand
  const uint32_t shift = 126u - exp;                  // 14 .. 24
  const uint32_t kept = full >> shift;
  const uint32_t rest = full & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  const uint32_t up = (rest > half || (rest == half && (kept & 1u))) ? 1u : 0u;
  return static_cast<uint16_t>(sign | (kept + up));
}

// Element `i` of a plane of type `t`, as float.
FALSR_HD_INLINE float load_as_float(const void* base, int64_t i, StorageType t) {
  if (t == StorageType::F32) return static_cast<const float*>(base)[i];
  const uint16_t b = static_cast<const uint16_t*>(base)[i];
  return t == StorageType::BF16 ? bf16_bits_to_float(b) : f16_bits_to_float(b);
}

// Typed loads / stores for kernels templated on the storage type.
template <StorageType T>
FALSR_HD_INLINE float load_t(const void* base, int64_t i) {
  if constexpr (T == StorageType::F32) {
    return static_cast<const float*>(base)[i];
  } else if constexpr (T == StorageType::BF16) {
    return bf16_bits_to_float(static_cast<const uint16_t*>(base)[i]);
  } else {
    return f16_bits_to_float(static_cast<const uint16_t*>(base)[i]);
  }
}

// Stores v rounded once to the plane's type.
FALSR_HD_INLINE void store_from_float(void* base, int64_t i, StorageType t, float v) {
  if (t == StorageType::F32) {
    static_cast<float*>(base)[i] = v;
  } else if (t == StorageType::BF16) {
    static_cast<uint16_t*>(base)[i] = float_to_bf16_bits(v);
  } else {
    static_cast<uint16_t*>(base)[i] = float_to_f16_bits(v);
  }
}

// A view of NHWC activations (as core::Plane, plus fp16): element (n, y, x, c) lives at
// data + ((n * height + y) * width + x) * pixel_stride + c.
struct DevPlane {
  const void* data = nullptr;
  StorageType type = StorageType::F32;
  int64_t channels = 0;
  int64_t pixel_stride = 0;
};

struct DevMutPlane {
  void* data = nullptr;
  StorageType type = StorageType::F32;
  int64_t channels = 0;
  int64_t pixel_stride = 0;
};

// Element offset of channel c of pixel p (p = (n * H + y) * W + x) in a plane.
FALSR_HD_INLINE int64_t plane_offset(int64_t pixel, int64_t pixel_stride, int64_t c) {
  return pixel * pixel_stride + c;
}

FALSR_HD_INLINE float relu_f(float v) { return v > 0.0f ? v : 0.0f; }

}  // namespace falsr::cuda
