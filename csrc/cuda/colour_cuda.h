// CUDA launcher of rgb_to_luma (semantics: core/colour.h): an h x w RGB image of uint8 /
// uint16 / float32 / float64 samples (strides in elements, channels contiguous) to a
// dense h x w float32 luma plane. Plain device pointers and a stream; no torch headers.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "core/colour.h"

namespace falsr::cuda {

// Checks the arguments (throws std::invalid_argument) and launches on `stream`.
cudaError_t rgb_to_luma_cuda(const void* src, core::PixelType type, int64_t h, int64_t w,
                             int64_t row_stride, int64_t pixel_stride, float* dst,
                             cudaStream_t stream);

}  // namespace falsr::cuda
