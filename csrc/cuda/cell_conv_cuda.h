// CUDA launcher of the FALSR cell convolution: plain device pointers, shapes and a
// stream; no torch headers (the binding is csrc/torch/cell_conv_cuda_binding.cpp).
// Semantics: core/cell_conv.h, with fp16 planes too and up to two residuals
// (cuda/cell_conv_point.h holds the arithmetic and the parameter struct).
#pragma once

#include <cuda_runtime_api.h>

#include "cuda/cell_conv_point.h"

namespace falsr::cuda {

// Checks `p` on the host (sizes, kernel 1 or 3, groups, the inputs' channels adding up to
// in_channels, strides, non-null pointers, out not overlapping an input or a residual;
// throws std::invalid_argument) and launches on `stream`, asynchronously. All pointers
// are device memory. Returns the launch status; cudaSuccess for an empty image.
cudaError_t cell_conv_cuda(const CellConvParams& p, cudaStream_t stream);

// The checks alone (also used by the inverted bottleneck before its first launch).
void check_cell_conv_params(const CellConvParams& p);

// The tensor-core kernel (cell_conv_mma_cuda.cu) for checked params where
// cell_conv_mma_applies(p, &t); cell_conv_cuda() calls it when p.allow_tensor_cores.
cudaError_t cell_conv_mma_cuda(const CellConvParams& p, StorageType t, cudaStream_t stream);

}  // namespace falsr::cuda
