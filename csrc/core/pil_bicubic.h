// Pillow's BICUBIC resize (Image.resize(..., Resampling.BICUBIC)) for integer upscaling,
// reproduced bit for bit: the FALSR protocol takes its chroma from it, and our
// upscale() its alpha. Two passes, horizontal first, as Pillow's ImagingResampleInner:
//   * uint8 ("L"/"RGB"): 22-bit fixed-point taps, rounded and saturated after each pass;
//   * float32 (mode "F"): double accumulation, float32 result of each pass; clip_unit
//     additionally clamps each pass's result to [0, 1] (our float path: the 8-bit one
//     without its rounding).
// Any window of the upscaled image can be computed on its own (tiles, no HR buffer).
#pragma once

#include <cstdint>
#include <vector>

namespace falsr::core {

// Taps of one axis, exactly Pillow's precompute_coeffs() (a = -0.5, support 2), for the
// output samples [first, first + n) of an axis of in_size samples upscaled by `scale`.
struct PilTaps {
  int64_t ksize = 0;             // taps stored per output sample (zero padded)
  std::vector<int64_t> start;    // first input sample of each output sample
  std::vector<int64_t> count;    // taps used by each output sample
  std::vector<double> weight;    // [n][ksize], normalised to sum 1 (mode "F")
  std::vector<int32_t> weight8;  // [n][ksize], normalize_coeffs_8bpc (8-bit images)
};

PilTaps pil_bicubic_taps(int64_t in_size, int64_t scale, int64_t first, int64_t n);

// The window [top, top + out_h) x [left, left + out_w) of the x`scale` upscale of an
// h x w image with c channels. Validated by make_pil_upscale (std::invalid_argument).
struct PilUpscale {
  int64_t h = 0, w = 0, c = 0, scale = 0;
  int64_t top = 0, left = 0, out_h = 0, out_w = 0;
  PilTaps rows, cols;
};

PilUpscale make_pil_upscale(int64_t h, int64_t w, int64_t c, int64_t scale, int64_t top,
                            int64_t left, int64_t out_h, int64_t out_w);

// Output rows are computed in blocks of this many, one independent task each (the
// horizontal pass of a block's few LR rows stays in cache).
constexpr int64_t kPilRowsPerTask = 32;

int64_t pil_upscale_num_tasks(const PilUpscale& p);

// Source element (y, x, ch) is src[y * row_stride + x * pixel_stride + ch]; dst is the
// dense out_h x out_w x c window. Runs tasks [task_begin, task_end).
void pil_upscale_u8(const PilUpscale& p, const uint8_t* src, int64_t row_stride,
                    int64_t pixel_stride, uint8_t* dst, int64_t task_begin, int64_t task_end);
void pil_upscale_f32(const PilUpscale& p, const float* src, int64_t row_stride,
                     int64_t pixel_stride, bool clip_unit, float* dst, int64_t task_begin,
                     int64_t task_end);

}  // namespace falsr::core
