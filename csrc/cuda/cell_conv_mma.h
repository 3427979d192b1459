// The index maths of the tensor-core cell convolution (cell_conv_mma_cuda.cu), shared with
// plain C++ so csrc/core/tests/test_cuda_arith.cpp runs a whole block on the CPU with the
// tile product emulated (as core/tests/amx_tile_emulator.h does for AMX).
//
// Implicit GEMM, NHWC, groups == 1, every input plane of one 16-bit type T (bf16 / fp16):
//   C[m][n] = sum_k A[m][k] * B[k][n],  m = pixel, n = output channel,
//   k = tap * Cin + ci  (tap = ky * kernel + kx, ci = channel of the concat)
//   A[m][k] = input(pixel m shifted by tap, ci), zero outside the image / past K
//   B[k][n] = weight[n][ci][ky][kx] rounded once to T (exact for the engine's T weights)
// A block computes kBlockM pixels x kBlockN channels; per K chunk of kBlockK its threads
// fill A (row-major [kBlockM][kBlockK]) and B (row-major [kBlockK][kBlockN]) in shared
// memory with the functions below, the warps multiply 16x16x16 tiles with fp32
// accumulation, and the epilogue (bias, ReLU, residuals, rounding) runs per element from
// the fp32 C tile ([kBlockM][kBlockN]).
#pragma once

#include <cstdint>

#include "cuda/arith.h"
#include "cuda/cell_conv_point.h"

namespace falsr::cuda {

constexpr int kMmaBlockM = 64;   // pixels per block: 4 warps x 16 rows
constexpr int kMmaBlockN = 32;   // output channels per block: 2 tiles of 16
constexpr int kMmaBlockK = 32;   // K per shared-memory chunk: 2 tiles of 16
constexpr int kMmaThreads = 128;

// Whether the tensor-core kernel applies: dense (groups 1), all inputs of 16-bit type `t`,
// out_channels a multiple of 16.
inline bool cell_conv_mma_applies(const CellConvParams& p, StorageType* t) {
  if (p.groups != 1 || p.out_channels % 16 != 0 || p.num_inputs < 1) return false;
  const StorageType first = p.inputs[0].type;
  if (first != StorageType::BF16 && first != StorageType::F16) return false;
  for (int32_t i = 1; i < p.num_inputs; ++i) {
    if (p.inputs[i].type != first) return false;
  }
  *t = first;
  return true;
}

FALSR_HD_INLINE uint16_t to_bits16(float v, StorageType t) {
  return t == StorageType::BF16 ? float_to_bf16_bits(v) : float_to_f16_bits(v);
}

FALSR_HD_INLINE float from_bits16(uint16_t b, StorageType t) {
  return t == StorageType::BF16 ? bf16_bits_to_float(b) : f16_bits_to_float(b);
}

// Element `idx` (row-major [kMmaBlockM][kMmaBlockK]) of the A chunk at pixel m0, K k0:
// the raw 16-bit input element (exact: the planes are already of type T), or 0.
FALSR_HD_INLINE uint16_t mma_a_element(const CellConvParams& p, int64_t m0, int64_t k0,
                                       int32_t idx) {
  const int64_t pixel = m0 + idx / kMmaBlockK;
  const int64_t k = k0 + idx % kMmaBlockK;
  const int64_t cin = p.in_channels;
  const int64_t pixels = p.batch * p.height * p.width;
  if (pixel >= pixels || k >= cin * p.kernel * p.kernel) return 0;
  const int64_t tap = k / cin;
  int64_t ci = k - tap * cin;
  const int64_t r = p.kernel / 2;
  const int64_t x = pixel % p.width + tap % p.kernel - r;
  const int64_t ny = pixel / p.width;
  const int64_t y = ny % p.height + tap / p.kernel - r;
  if (x < 0 || x >= p.width || y < 0 || y >= p.height) return 0;
  const int64_t src = ((ny / p.height) * p.height + y) * p.width + x;
  for (int32_t i = 0; i < p.num_inputs; ++i) {
    const DevPlane& pl = p.inputs[i];
    if (ci < pl.channels) {
      return static_cast<const uint16_t*>(pl.data)[plane_offset(src, pl.pixel_stride, ci)];
    }
    ci -= pl.channels;
  }
  return 0;  // unreachable when in_channels is the planes' sum (checked on the host)
}

// Element `idx` (row-major [kMmaBlockK][kMmaBlockN]) of the B chunk at K k0, channel n0.
FALSR_HD_INLINE uint16_t mma_b_element(const CellConvParams& p, int64_t k0, int64_t n0,
                                       int32_t idx, StorageType t) {
  const int64_t k = k0 + idx / kMmaBlockN;
  const int64_t n = n0 + idx % kMmaBlockN;
  const int64_t cin = p.in_channels;
  const int32_t kk = p.kernel * p.kernel;
  if (n >= p.out_channels || k >= cin * kk) return 0;
  const int64_t tap = k / cin;
  const int64_t ci = k - tap * cin;
  return to_bits16(p.weight[(n * cin + ci) * kk + tap], t);
}

// Source pixel of tap `tap` for the output pixel at (x0, y0) of image row base nbase
// (= n * H), or -1 outside the image.
FALSR_HD_INLINE int64_t mma_tap_source(const CellConvParams& p, int64_t tap, int64_t x0,
                                       int64_t y0, int64_t nbase) {
  const int64_t r = p.kernel / 2;
  const int64_t x = x0 + tap % p.kernel - r;
  const int64_t y = y0 + tap / p.kernel - r;
  if (x < 0 || x >= p.width || y < 0 || y >= p.height) return -1;
  return (nbase + y) * p.width + x;
}

// What the kernel's threads do: A[row][kq0 .. kq0 + count) of the chunk at (m0, k0) into
// dst, the pixel's coordinates and the (tap, plane, channel) position worked out once and
// then advanced channel by channel. Equal to mma_a_element at every position.
FALSR_HD_INLINE void mma_a_fill_run(const CellConvParams& p, int64_t m0, int64_t k0,
                                    int32_t row, int32_t kq0, int32_t count, uint16_t* dst) {
  const int64_t pixel = m0 + row;
  const int64_t cin = p.in_channels;
  const int64_t k_total = cin * p.kernel * p.kernel;
  int64_t k = k0 + kq0;
  if (pixel >= p.batch * p.height * p.width || k >= k_total) {
    for (int32_t i = 0; i < count; ++i) dst[i] = 0;
    return;
  }
  const int64_t x0 = pixel % p.width;
  const int64_t ny = pixel / p.width;
  const int64_t y0 = ny % p.height;
  const int64_t nbase = ny - y0;  // (n * H)
  int64_t tap = k / cin;
  int64_t c = k - tap * cin;  // channel within the current plane, after the search below
  int32_t plane = 0;
  while (c >= p.inputs[plane].channels) c -= p.inputs[plane++].channels;
  int64_t src = mma_tap_source(p, tap, x0, y0, nbase);
  for (int32_t i = 0; i < count; ++i, ++k) {
    if (k >= k_total) {
      dst[i] = 0;
      continue;
    }
    const DevPlane& pl = p.inputs[plane];
    dst[i] = src < 0 ? uint16_t{0}
                     : static_cast<const uint16_t*>(pl.data)[plane_offset(src, pl.pixel_stride, c)];
    if (++c == pl.channels) {
      c = 0;
      if (++plane == p.num_inputs) {
        plane = 0;
        src = mma_tap_source(p, ++tap, x0, y0, nbase);
      }
    }
  }
}

// B[krow][nq0 .. nq0 + count) of the chunk at (k0, n0) into dst (one tap and channel per
// run); equal to mma_b_element at every position.
FALSR_HD_INLINE void mma_b_fill_run(const CellConvParams& p, int64_t k0, int64_t n0,
                                    int32_t krow, int32_t nq0, int32_t count, StorageType t,
                                    uint16_t* dst) {
  const int64_t k = k0 + krow;
  const int64_t cin = p.in_channels;
  const int32_t kk = p.kernel * p.kernel;
  if (k >= cin * kk) {
    for (int32_t i = 0; i < count; ++i) dst[i] = 0;
    return;
  }
  const int64_t tap = k / cin;
  const int64_t ci = k - tap * cin;
  for (int32_t i = 0; i < count; ++i) {
    const int64_t n = n0 + nq0 + i;
    dst[i] = n < p.out_channels ? to_bits16(p.weight[(n * cin + ci) * kk + tap], t) : 0;
  }
}

// The epilogue of element `idx` (row-major [kMmaBlockM][kMmaBlockN]) of the fp32 C tile.
FALSR_HD_INLINE void mma_epilogue_element(const CellConvParams& p, int64_t m0, int64_t n0,
                                          int32_t idx, const float* c_tile) {
  const int64_t pixel = m0 + idx / kMmaBlockN;
  const int64_t co = n0 + idx % kMmaBlockN;
  if (pixel >= p.batch * p.height * p.width || co >= p.out_channels) return;
  float v = c_tile[idx];
  if (p.bias != nullptr) v += p.bias[co];
  if (p.relu) v = relu_f(v);
  for (int32_t i = 0; i < p.num_residuals; ++i) {
    const DevPlane& rp = p.residuals[i];
    v += load_as_float(rp.data, plane_offset(pixel, rp.pixel_stride, co), rp.type);
  }
  store_from_float(p.out.data, plane_offset(pixel, p.out.pixel_stride, co), p.out.type, v);
}

}  // namespace falsr::cuda
