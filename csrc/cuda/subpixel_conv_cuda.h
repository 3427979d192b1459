// CUDA launcher of the fused FALSR tail: out = conv2d(depth_to_space(x + residual, s,
// order), weight, bias, padding k/2), the HR map never stored. Semantics and geometry:
// core/subpixel_conv.h; fp32 / bf16 / fp16 storage, NCHW or NHWC, both channel orders.
// Plain device pointers and a stream; no torch headers.
#pragma once

#include <cuda_runtime_api.h>

#include "cuda/subpixel_conv_point.h"

namespace falsr::cuda {

// Checks the pointers and the geometry (build it with core::make_subpixel_conv_geometry;
// throws std::invalid_argument) and launches on `stream`, asynchronously. `out` must not
// overlap x or the residual. Returns the launch status; cudaSuccess for an empty output.
cudaError_t subpixel_conv_cuda(const SubpixelConvParams& p, cudaStream_t stream);

}  // namespace falsr::cuda
