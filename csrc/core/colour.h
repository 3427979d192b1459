// The FALSR colour pipeline's conversions, fused (torch-free):
//   * rgb_to_luma: analog BT.601 luma Y of skimage's rgb2ypbpr, the network's input;
//   * compose_rgb: network luma + Pillow-bicubic-upscaled LR chroma -> RGB, in one pass
//     per block of output rows (no HR chroma plane is ever materialised).
// The arithmetic is the numpy pipeline's, in double, in the same order (no FMA), so the
// results agree with it to the last bit up to the numpy matmul's own last-ulp rounding
// (BLAS-dependent), i.e. exactly in practice for the truncated uint8 output.
#pragma once

#include <cstdint>

#include "core/pil_bicubic.h"

namespace falsr::core {

// Pixel sample types: uint8 (0..255), uint16 (0..65535), float32 / float64 in [0, 1].
enum class PixelType { U8, U16, F32, F64 };

// Y of h x w RGB pixels for rows [row_begin, row_end): sample (y, x, ch) of the source
// is src[y * row_stride + x * pixel_stride + ch] (pixel_stride >= 3, e.g. 4 for RGBA);
// dst is dense h x w float32. Samples are scaled to [0, 1] in double (v / 255.0,
// v / 65535.0) and Y = 0.299 R + 0.587 G + 0.114 B is rounded to float32.
void rgb_to_luma(const void* src, PixelType type, int64_t h, int64_t w, int64_t row_stride,
                 int64_t pixel_stride, float* dst, int64_t row_begin, int64_t row_end);

// Composition of the window [top, top + out_h) x [left, left + out_w) of the x`scale`
// output from an h x w LR RGB image and the window's luma.
struct ComposeRgb {
  PixelType type = PixelType::U8;
  PilUpscale up;  // c == 3
};

ComposeRgb make_compose_rgb(PixelType type, int64_t h, int64_t w, int64_t scale, int64_t top,
                            int64_t left, int64_t out_h, int64_t out_w);

int64_t compose_rgb_num_tasks(const ComposeRgb& plan);

// y: out_h x out_w float32 luma (row stride y_row_stride), unclipped network output.
// lr: the LR image (strides as in rgb_to_luma), of plan.type. dst: dense out_h x out_w x 3
// of plan.type. Runs tasks [task_begin, task_end).
//   uint8 (the official protocol, bit for bit): chroma = Pillow 8-bit bicubic of the LR;
//     Pb, Pr of it / 255; R = Y' + 1.402 Cr, G = Y' - 0.34414 Cb - 0.71414 Cr,
//     B = Y' + 1.772 Cb on the 0..255 scale (JPEG constants); clipped, then TRUNCATED.
//   uint16 / float: LR / 65535 (or as is) in float32, Pillow mode "F" bicubic clipped to
//     [0, 1] after each pass; Pb, Pr of it, with Y back through the exact inverse of the
//     Y'PbPr matrix; clipped to [0, 1]; uint16 rounded half to even (np.round).
void compose_rgb(const ComposeRgb& plan, const float* y, int64_t y_row_stride, const void* lr,
                 int64_t row_stride, int64_t pixel_stride, void* dst, int64_t task_begin,
                 int64_t task_end);

}  // namespace falsr::core
