// Unsigned integer types by byte size: kernels that only move elements (shuffles)
// copy them as raw bits of the right width, whatever the dtype. Used by the CPU and
// CUDA kernels alike (plain types, no host/device code).
#pragma once

#include <cstddef>
#include <cstdint>

namespace falsr::core {

template <std::size_t N>
struct UInt;
template <>
struct UInt<1> {
  using type = uint8_t;
};
template <>
struct UInt<2> {
  using type = uint16_t;
};
template <>
struct UInt<4> {
  using type = uint32_t;
};
template <>
struct UInt<8> {
  using type = uint64_t;
};

}  // namespace falsr::core
