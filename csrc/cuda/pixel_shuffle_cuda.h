// CUDA launcher of the sub-pixel shuffle (depth_to_space): plain pointers, shapes
// and a stream; no torch headers (the binding is csrc/torch/pixel_shuffle_cuda_binding.cpp).
// Semantics, orders and layouts: csrc/core/pixel_shuffle.h and pixel_shuffle_index.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "core/pixel_shuffle_index.h"

namespace falsr::cuda {

// Shuffles `in` ([N, c_in, H, W] in `layout`) into `out` ([N, c_in/s^2, H*s, W*s], same
// layout) on `stream`, asynchronously. Both pointers are device memory that must not
// overlap; elem_size is 1, 2, 4 or 8 bytes (fp32 = 4, bf16 / fp16 = 2).
// Throws std::invalid_argument on bad arguments (checked on the host before any launch);
// returns the launch status (cudaGetLastError()), cudaSuccess for an empty tensor.
cudaError_t pixel_shuffle_cuda(const void* in, void* out, int64_t n, int64_t c_in, int64_t h,
                               int64_t w, int64_t scale, std::size_t elem_size,
                               core::ChannelOrder order, core::Layout layout,
                               cudaStream_t stream);

}  // namespace falsr::cuda
