// The falsr operator library: schemas (TORCH_LIBRARY, defined once, here) and the
// CPU implementations. CUDA implementations register themselves from
// csrc/torch/*_cuda*.cpp, compiled only when the extension is built with CUDA.
//
// Adding an op: add its schema below (or use TORCH_LIBRARY_FRAGMENT(falsr, m) in
// your own file: a second TORCH_LIBRARY(falsr, ...) would fail at load time), and
// its CPU kernel in the TORCH_LIBRARY_IMPL block below (or in a
// TORCH_LIBRARY_IMPL(falsr, CPU, m) block of its own file: several are allowed).
#include <torch/library.h>

#include "cpu/cell_conv_cpu.h"
#include "cpu/inverted_bottleneck_cpu.h"
#include "cpu/pixel_shuffle_cpu.h"

TORCH_LIBRARY(falsr, m) {
  // Sub-pixel shuffle [N, C*s*s, H, W] -> [N, C, H*s, W*s]; tf_order=True uses
  // tf.nn.depth_to_space's channel order (the official FALSR graphs).
  m.def("pixel_shuffle(Tensor x, int scale, bool tf_order=False) -> Tensor");
  // The same into a preallocated output (shape, dtype and memory format must match).
  m.def(
      "pixel_shuffle.out(Tensor x, int scale, bool tf_order=False, *, Tensor(a!) out) -> "
      "Tensor(a!)");
  // FALSR tail, fused: conv2d(depth_to_space(x + residual, s, order), weight, bias,
  // padding=k/2) without materialising the HR map (k 1|3; inference only, no autograd).
  m.def(
      "subpixel_conv(Tensor x, Tensor? residual, Tensor weight, Tensor? bias, int scale, "
      "bool tf_order=False) -> Tensor");
  // FALSR cell convolution, NHWC: act(conv2d(cat(inputs, 1), weight, bias, padding=k/2,
  // groups)) + residual, the concat read in place (k 1|3; fp32/bf16; inference only).
  // direct_only=True never takes the Winograd path (closest to PyTorch's arithmetic).
  m.def(
      "cell_conv(Tensor[] inputs, Tensor weight, Tensor? bias, int groups=1, bool relu=False, "
      "Tensor? residual=None, bool direct_only=False) -> Tensor");
  m.def(
      "cell_conv.out(Tensor[] inputs, Tensor weight, Tensor? bias, int groups=1, "
      "bool relu=False, Tensor? residual=None, bool direct_only=False, *, Tensor(a!) out) -> "
      "Tensor(a!)");
  // One FALSR inverted-bottleneck block, fused, NHWC: x + project(ReLU(dw3x3(ReLU(
  // expand(x))))) [+ extra_residual]; the 6x-wide maps never leave the cache.
  m.def(
      "inverted_bottleneck(Tensor x, Tensor expand_w, Tensor? expand_b, Tensor dw_w, "
      "Tensor? dw_b, Tensor project_w, Tensor? project_b, Tensor? extra_residual=None) -> "
      "Tensor");
  m.def(
      "inverted_bottleneck.out(Tensor x, Tensor expand_w, Tensor? expand_b, Tensor dw_w, "
      "Tensor? dw_b, Tensor project_w, Tensor? project_b, Tensor? extra_residual=None, *, "
      "Tensor(a!) out) -> Tensor(a!)");
}

TORCH_LIBRARY_IMPL(falsr, CPU, m) {
  m.impl("pixel_shuffle", &falsr::pixel_shuffle_cpu);
  m.impl("pixel_shuffle.out", &falsr::pixel_shuffle_out_cpu);
  m.impl("cell_conv", &falsr::cell_conv_cpu);
  m.impl("cell_conv.out", &falsr::cell_conv_out_cpu);
  m.impl("inverted_bottleneck", &falsr::inverted_bottleneck_cpu);
  m.impl("inverted_bottleneck.out", &falsr::inverted_bottleneck_out_cpu);
}
