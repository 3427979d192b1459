// The falsr operator library: schemas (TORCH_LIBRARY, defined once, here) and the
// CPU implementations. CUDA implementations register themselves from
// csrc/torch/*_cuda*.cpp, compiled only when the extension is built with CUDA.
//
// Adding an op: add its schema below (or use TORCH_LIBRARY_FRAGMENT(falsr, m) in
// your own file: a second TORCH_LIBRARY(falsr, ...) would fail at load time), and
// its CPU kernel in the TORCH_LIBRARY_IMPL block below (or in a
// TORCH_LIBRARY_IMPL(falsr, CPU, m) block of its own file: several are allowed).
#include <torch/library.h>

#include "cpu/pixel_shuffle_cpu.h"

TORCH_LIBRARY(falsr, m) {
  // Sub-pixel shuffle [N, C*s*s, H, W] -> [N, C, H*s, W*s]; tf_order=True uses
  // tf.nn.depth_to_space's channel order (the official FALSR graphs).
  m.def("pixel_shuffle(Tensor x, int scale, bool tf_order=False) -> Tensor");
  // FALSR tail, fused: conv2d(depth_to_space(x + residual, s, order), weight, bias,
  // padding=k/2) without materialising the HR map (k 1|3; inference only, no autograd).
  m.def(
      "subpixel_conv(Tensor x, Tensor? residual, Tensor weight, Tensor? bias, int scale, "
      "bool tf_order=False) -> Tensor");
}

TORCH_LIBRARY_IMPL(falsr, CPU, m) {
  m.impl("pixel_shuffle", &falsr::pixel_shuffle_cpu);
}
