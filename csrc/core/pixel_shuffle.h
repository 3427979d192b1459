// Sub-pixel shuffle (depth_to_space) on plain pointers: no torch, no Python.
//
//   input  [N, C_in, H, W],  C_in = C_out * s * s
//   output [N, C_out, H*s, W*s]
//
// Both channel orders (PyTorch PixelShuffle and TensorFlow depth_to_space, see
// pixel_shuffle_index.h for the formulas) and both layouts (NCHW -> NCHW,
// NHWC -> NHWC). The element type does not matter (the op is a pure copy): any
// element size of 1, 2, 4 or 8 bytes (fp32 = 4, bf16/fp16 = 2).
//
// The work is split into independent tasks (pixel_shuffle_num_tasks) so that a
// caller with its own thread pool (at::parallel_for in the torch binding) can run
// ranges of them; pixel_shuffle() runs all of them with OpenMP when available.
// All functions throw std::invalid_argument on bad arguments.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/pixel_shuffle_index.h"

namespace falsr::core {

// Validates the shape and scale and returns the geometry (c_out filled in).
// Throws std::invalid_argument if scale < 1, a dimension is negative,
// c_in is not divisible by scale*scale, or any size overflows int64.
PixelShuffleGeometry make_pixel_shuffle_geometry(int64_t n, int64_t c_in, int64_t h, int64_t w,
                                                 int64_t scale);

// Number of elements of the input (= of the output).
int64_t pixel_shuffle_numel(const PixelShuffleGeometry& g);

// Independent units of work: NCHW -> one per (n, c_out, h) (each writes s output
// rows of W*s elements); NHWC -> one per (n, h) (each writes s rows of W*s*C_out).
int64_t pixel_shuffle_num_tasks(const PixelShuffleGeometry& g, Layout layout);

// Elements written by one task (to choose a grain size).
int64_t pixel_shuffle_task_elems(const PixelShuffleGeometry& g, Layout layout);

// Runs tasks [begin, end) on the calling thread. `in` and `out` must not overlap.
void pixel_shuffle_tasks(const void* in, void* out, const PixelShuffleGeometry& g,
                         std::size_t elem_size, ChannelOrder order, Layout layout, int64_t begin,
                         int64_t end);

// Runs the whole shuffle, with OpenMP threads when compiled with OpenMP
// (num_threads <= 0: the OpenMP default). Checks pointers (null with a non-empty
// shape, overlapping buffers) and the element size.
void pixel_shuffle(const void* in, void* out, const PixelShuffleGeometry& g,
                   std::size_t elem_size, ChannelOrder order, Layout layout,
                   int num_threads = 0);

// Naive reference: one element at a time straight from the index formulas.
// For tests and for checking other kernels; single-threaded, slow.
void pixel_shuffle_naive(const void* in, void* out, const PixelShuffleGeometry& g,
                         std::size_t elem_size, ChannelOrder order, Layout layout);

}  // namespace falsr::core
