// Tensor-core cell convolution: implicit GEMM with WMMA 16x16x16 tiles (bf16 or fp16
// operands, fp32 accumulation) for dense convs on 16-bit NHWC inputs. The index maths of
// the shared-memory fills and the epilogue are cuda/cell_conv_mma.h's (checked on the CPU
// by csrc/core/tests/test_cuda_arith.cpp with the tile product emulated); this file only
// adds the WMMA calls and the synchronisation.
//
// Block: kMmaBlockM pixels x kMmaBlockN output channels, 4 warps of 16 pixel rows each.
// Per K chunk of kMmaBlockK: fill A and B in shared memory, sync, 2 x 2 mma_sync per warp,
// sync. Then the fp32 accumulators go to shared memory for the per-element epilogue.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include "cuda/cell_conv_cuda.h"
#include "cuda/cell_conv_mma.h"

namespace falsr::cuda {
namespace {

namespace wmma = nvcuda::wmma;

static_assert(kMmaBlockM == 16 * (kMmaThreads / 32), "one warp per 16 pixel rows");
static_assert(kMmaBlockN % 16 == 0 && kMmaBlockK % 16 == 0, "whole 16x16x16 tiles");
// Each thread fills one run of A (kARun consecutive K of one pixel) and one of B (kBRun
// consecutive output channels of one K row) per chunk.
constexpr int32_t kARun = kMmaBlockM * kMmaBlockK / kMmaThreads;
constexpr int32_t kARunsPerRow = kMmaBlockK / kARun;
constexpr int32_t kBRun = kMmaBlockK * kMmaBlockN / kMmaThreads;
constexpr int32_t kBRunsPerRow = kMmaBlockN / kBRun;
static_assert(kMmaBlockK % kARun == 0 && kMmaBlockN % kBRun == 0, "runs tile the chunk");

template <class Elem>
__global__ void __launch_bounds__(kMmaThreads)
    cell_conv_mma_kernel(const CellConvParams p, StorageType t) {
  __shared__ __align__(32) uint16_t a_s[kMmaBlockM * kMmaBlockK];
  __shared__ __align__(32) uint16_t b_s[kMmaBlockK * kMmaBlockN];
  __shared__ __align__(32) float c_s[kMmaBlockM * kMmaBlockN];
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kMmaBlockM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kMmaBlockN;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  constexpr int kTilesN = kMmaBlockN / 16;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kTilesN];
#pragma unroll
  for (int j = 0; j < kTilesN; ++j) wmma::fill_fragment(acc[j], 0.0f);

  const int64_t k_total = p.in_channels * p.kernel * p.kernel;
  const Elem* a_tile = reinterpret_cast<const Elem*>(a_s) + warp * 16 * kMmaBlockK;
  const Elem* b_tile = reinterpret_cast<const Elem*>(b_s);
  for (int64_t k0 = 0; k0 < k_total; k0 += kMmaBlockK) {
    {
      const int32_t row = static_cast<int32_t>(threadIdx.x) / kARunsPerRow;
      const int32_t kq0 = (static_cast<int32_t>(threadIdx.x) % kARunsPerRow) * kARun;
      mma_a_fill_run(p, m0, k0, row, kq0, kARun, a_s + row * kMmaBlockK + kq0);
      const int32_t krow = static_cast<int32_t>(threadIdx.x) / kBRunsPerRow;
      const int32_t nq0 = (static_cast<int32_t>(threadIdx.x) % kBRunsPerRow) * kBRun;
      mma_b_fill_run(p, k0, n0, krow, nq0, kBRun, t, b_s + krow * kMmaBlockN + nq0);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kMmaBlockK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, Elem, wmma::row_major> a;
      wmma::load_matrix_sync(a, a_tile + kk, kMmaBlockK);
#pragma unroll
      for (int j = 0; j < kTilesN; ++j) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, Elem, wmma::row_major> b;
        wmma::load_matrix_sync(b, b_tile + kk * kMmaBlockN + j * 16, kMmaBlockN);
        wmma::mma_sync(acc[j], a, b, acc[j]);
      }
    }
    __syncthreads();  // before the next chunk overwrites a_s / b_s
  }
#pragma unroll
  for (int j = 0; j < kTilesN; ++j) {
    wmma::store_matrix_sync(c_s + warp * 16 * kMmaBlockN + j * 16, acc[j], kMmaBlockN,
                            wmma::mem_row_major);
  }
  __syncthreads();
  for (int32_t i = threadIdx.x; i < kMmaBlockM * kMmaBlockN; i += kMmaThreads) {
    mma_epilogue_element(p, m0, n0, i, c_s);
  }
}

}  // namespace

cudaError_t cell_conv_mma_cuda(const CellConvParams& p, StorageType t, cudaStream_t stream) {
  const int64_t pixels = p.batch * p.height * p.width;
  const dim3 grid(static_cast<unsigned>((pixels + kMmaBlockM - 1) / kMmaBlockM),
                  static_cast<unsigned>((p.out_channels + kMmaBlockN - 1) / kMmaBlockN));
  if (t == StorageType::BF16) {
    cell_conv_mma_kernel<__nv_bfloat16><<<grid, kMmaThreads, 0, stream>>>(p, t);
  } else {
    cell_conv_mma_kernel<__half><<<grid, kMmaThreads, 0, stream>>>(p, t);
  }
  return cudaGetLastError();
}

}  // namespace falsr::cuda
