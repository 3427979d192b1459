// CUDA launcher of one FALSR inverted-bottleneck block (semantics: core/inverted_bottleneck.h):
//   out = x + project(ReLU(dw3x3(ReLU(expand(x))))) [+ extra_residual]
// composed of three cell-conv launches (cuda/cell_conv_cuda.h) through fp32 wide maps in
// a scratch buffer the caller owns (the torch binding takes it from PyTorch's caching
// allocator). Plain device pointers and a stream; no torch headers.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "cuda/arith.h"

namespace falsr::cuda {

struct InvertedBottleneckCudaArgs {
  int64_t batch = 0, height = 0, width = 0;
  DevPlane x;  // filters channels
  int64_t filters = 0;
  int64_t kernel = 3;  // expand / project: 1 or 3; the depthwise conv is always 3x3
  int64_t wide = 0;
  const float* expand_w = nullptr;   // [wide, f, k, k]
  const float* expand_b = nullptr;   // [wide] or null
  const float* dw_w = nullptr;       // [wide, 1, 3, 3]
  const float* dw_b = nullptr;       // [wide] or null
  const float* project_w = nullptr;  // [f, wide, k, k]
  const float* project_b = nullptr;  // [f] or null
  bool has_extra_residual = false;
  DevPlane extra_residual;  // filters channels
  DevMutPlane out;          // filters channels; must not overlap x or the extra residual
  float* scratch = nullptr;  // inverted_bottleneck_cuda_scratch_floats() fp32 elements
};

// fp32 elements of scratch the block needs: the two wide maps, batch * H * W * wide each.
int64_t inverted_bottleneck_cuda_scratch_floats(int64_t batch, int64_t height, int64_t width,
                                                int64_t wide);

// Checks the arguments (throws std::invalid_argument) and launches the three convs on
// `stream`, asynchronously. Returns the first failing launch's status, else cudaSuccess.
cudaError_t inverted_bottleneck_cuda(const InvertedBottleneckCudaArgs& a, cudaStream_t stream);

}  // namespace falsr::cuda
