// A scalar model of the AMX tile instructions the cell_conv AMX kernel uses (ldtilecfg,
// tileloadd, tilestored, tilezero, tdpbf16ps), with the same Tiles interface as
// falsr::core::amx::AmxTiles. Test-only: it lets the kernel's blocking, packing and
// epilogue run (slowly) on CPUs without AMX, so they are checked on every machine.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/cell_conv_amx_kernel.h"

#if FALSR_AMX_AVAILABLE
namespace falsr::test {

struct EmulatedTiles {
  struct State {
    alignas(64) uint8_t data[8][1024];
    int rows[8];
    int colsb[8];
  };
  static State& state() {
    thread_local State s;
    return s;
  }
  static void configure(const core::amx::TileConfig& cfg) {
    for (int t = 0; t < 8; ++t) {
      state().rows[t] = cfg.rows[t];
      state().colsb[t] = cfg.colsb[t];
    }
  }
  static void release() {}
  static void memory_barrier() {}
  template <int T>
  static void zero() {
    std::memset(state().data[T], 0, sizeof(state().data[T]));
  }
  template <int T>
  static void load(const void* base, int64_t stride) {
    for (int r = 0; r < state().rows[T]; ++r) {
      std::memcpy(state().data[T] + r * 64, static_cast<const uint8_t*>(base) + r * stride,
                  state().colsb[T]);
    }
  }
  template <int T>
  static void store(void* base, int64_t stride) {
    for (int r = 0; r < state().rows[T]; ++r) {
      std::memcpy(static_cast<uint8_t*>(base) + r * stride, state().data[T] + r * 64,
                  state().colsb[T]);
    }
  }
  // C[m][n] += sum_k A[m][2k] B[k][2n] + A[m][2k+1] B[k][2n+1], fp32 (tdpbf16ps).
  template <int C, int A, int B>
  static void dot() {
    State& s = state();
    const int m_rows = s.rows[A], k_pairs = s.colsb[A] / 4, n_cols = s.colsb[C] / 4;
    for (int m = 0; m < m_rows; ++m) {
      float* c = reinterpret_cast<float*>(s.data[C] + m * 64);
      const uint16_t* a = reinterpret_cast<const uint16_t*>(s.data[A] + m * 64);
      for (int n = 0; n < n_cols; ++n) {
        float acc = c[n];
        for (int k = 0; k < k_pairs; ++k) {
          const uint16_t* b = reinterpret_cast<const uint16_t*>(s.data[B] + k * 64);
          acc += core::bf16_to_float(a[2 * k]) * core::bf16_to_float(b[2 * n]) +
                 core::bf16_to_float(a[2 * k + 1]) * core::bf16_to_float(b[2 * n + 1]);
        }
        c[n] = acc;
      }
    }
  }
};

}  // namespace falsr::test
#endif
