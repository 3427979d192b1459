// Shape and argument checks shared by the framework-free kernels in csrc/core.
//
// Header-only (so .cu launchers can use it without linking anything). Every
// failed check throws std::invalid_argument with a message naming the argument,
// its value and what was expected; the torch binding turns these into Python
// errors (ValueError) and CMake tests check them directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>

namespace falsr::core {

[[noreturn]] inline void fail_invalid(const std::string& message) {
  throw std::invalid_argument(message);
}

// `value` must be >= 1.
inline void check_positive(int64_t value, const char* name) {
  if (value < 1) {
    fail_invalid(std::string(name) + " must be >= 1, got " + std::to_string(value));
  }
}

// `value` must be >= 0 (an empty extent is allowed).
inline void check_non_negative(int64_t value, const char* name) {
  if (value < 0) {
    fail_invalid(std::string(name) + " must be >= 0, got " + std::to_string(value));
  }
}

// a * b for non-negative a, b; throws if the product does not fit in int64.
inline int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  if (a < 0 || b < 0) {
    fail_invalid(std::string(what) + ": negative factor");
  }
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) {
    fail_invalid(std::string(what) + " overflows int64 (" + std::to_string(a) + " * " +
                 std::to_string(b) + ")");
  }
  return a * b;
}

// Product of non-negative extents with overflow checking.
inline int64_t checked_numel(std::initializer_list<int64_t> dims, const char* what) {
  int64_t n = 1;
  for (int64_t d : dims) {
    n = checked_mul(n, d, what);
  }
  return n;
}

// Number of bytes of `numel` elements of `elem_size` bytes; must fit in int64 and size_t.
inline int64_t checked_bytes(int64_t numel, std::size_t elem_size, const char* what) {
  const int64_t bytes = checked_mul(numel, static_cast<int64_t>(elem_size), what);
  if (static_cast<uint64_t>(bytes) > std::numeric_limits<std::size_t>::max()) {
    fail_invalid(std::string(what) + " does not fit in size_t");
  }
  return bytes;
}

// A pointer must be non-null unless the buffer it designates is empty.
inline void check_pointer(const void* ptr, int64_t numel, const char* name) {
  if (ptr == nullptr && numel > 0) {
    fail_invalid(std::string(name) + " is a null pointer but " + std::to_string(numel) +
                 " elements were requested");
  }
}

// Element sizes the byte-copy kernels (shuffle, concat, ...) handle.
inline void check_elem_size(std::size_t elem_size) {
  if (elem_size != 1 && elem_size != 2 && elem_size != 4 && elem_size != 8) {
    fail_invalid("element size must be 1, 2, 4 or 8 bytes, got " + std::to_string(elem_size));
  }
}

}  // namespace falsr::core
