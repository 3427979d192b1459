// HxWxC image tensors (numpy's layout) as the csrc/core image kernels read them: unit
// channel stride, any pixel and row strides that do not overlap. Strides of size-1
// dimensions are meaningless in torch (and arbitrary), so they are normalised here.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace falsr {

struct ImageStrides {
  int64_t row = 0, pixel = 0;
};

// 3-D tensor t: the row and pixel strides the kernels should use.
inline ImageStrides image_strides(const at::Tensor& t) {
  const int64_t c = t.size(2);
  const int64_t pixel = t.size(1) == 1 ? c : t.stride(1);
  const int64_t row = t.size(0) == 1 ? t.size(1) * pixel : t.stride(0);
  return {row, pixel};
}

// t itself when the kernels can read it in place, else a contiguous copy.
inline at::Tensor readable_image(const at::Tensor& t) {
  const int64_t c = t.size(2);
  const ImageStrides s = image_strides(t);
  const bool ok = (t.stride(2) == 1 || c == 1) && s.pixel >= c &&
                  s.row >= (t.size(1) - 1) * s.pixel + c;
  return ok ? t : t.contiguous();
}

}  // namespace falsr
