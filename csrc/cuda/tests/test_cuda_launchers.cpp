// Host-side tests of the CUDA launchers (csrc/cuda/*.h), runnable WITHOUT a GPU: every
// argument check throws std::invalid_argument before any launch, and a valid launch on a
// machine without a GPU returns an error status instead of crashing. Also proves that the
// .cu objects link with the core sources they use. Build (nvcc for cudart; see GPU.md):
//   for f in csrc/cuda/*.cu; do nvcc -std=c++17 -O3 -Icsrc -c $f -o /tmp/$(basename $f).o; done
//   nvcc -std=c++17 -Icsrc -x cu csrc/cuda/tests/test_cuda_launchers.cpp /tmp/*.cu.o \
//     csrc/core/{isa,subpixel_conv,colour,pil_bicubic}.cpp -Xcompiler -fopenmp -o /tmp/t && /tmp/t
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/subpixel_conv.h"
#include "core/tests/check.h"
#include "cuda/cell_conv_cuda.h"
#include "cuda/colour_cuda.h"
#include "cuda/inverted_bottleneck_cuda.h"
#include "cuda/subpixel_conv_cuda.h"

namespace {

namespace core = falsr::core;
namespace fc = falsr::cuda;
using fc::StorageType;

void test_cell_conv_checks(std::vector<float>& buf, std::vector<float>& w) {
  fc::CellConvParams p;
  p.batch = 1;
  p.height = 4;
  p.width = 4;
  p.num_inputs = 1;
  p.inputs[0] = {buf.data(), StorageType::F32, 4, 4};
  p.weight = w.data();
  p.in_channels = 4;
  p.out_channels = 8;
  p.kernel = 3;
  p.out = {buf.data() + 8, StorageType::F32, 8, 8};
  CHECK_THROWS(fc::cell_conv_cuda(p, nullptr), "out must not overlap inputs[0]");
  p.out.data = buf.data() + 5000;
  p.kernel = 5;
  CHECK_THROWS(fc::cell_conv_cuda(p, nullptr), "kernel must be 1 or 3");
  p.kernel = 3;
  p.groups = 3;
  CHECK_THROWS(fc::cell_conv_cuda(p, nullptr), "groups (3)");
  p.groups = 1;
  p.in_channels = 5;
  CHECK_THROWS(fc::cell_conv_cuda(p, nullptr), "in_channels (5)");
  p.in_channels = 4;
  p.num_residuals = 1;
  p.residuals[0] = {buf.data() + 5000, StorageType::F32, 8, 8};
  CHECK_THROWS(fc::cell_conv_cuda(p, nullptr), "out must not overlap residuals[0]");
  p.num_residuals = 0;
  p.inputs[0].type = static_cast<StorageType>(7);
  CHECK_THROWS(fc::cell_conv_cuda(p, nullptr), "type");
  // Interleaved channel slices of one NHWC buffer (in [0, 4), out [4, 12), stride 12) are
  // not an overlap.
  p.inputs[0] = {buf.data(), StorageType::F32, 4, 12};
  p.out = {buf.data() + 4, StorageType::F32, 8, 12};
  bool accepted = true;
  try {
    fc::check_cell_conv_params(p);
  } catch (const std::invalid_argument&) {
    accepted = false;
  }
  CHECK(accepted);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    // Host memory and no GPU: the launch must fail with a status, not crash.
    CHECK(fc::cell_conv_cuda(p, nullptr) != cudaSuccess);
  }
}

void test_other_checks(std::vector<float>& buf, std::vector<float>& w) {
  fc::InvertedBottleneckCudaArgs a;
  a.batch = 1;
  a.height = 2;
  a.width = 2;
  a.filters = 4;
  a.wide = 8;
  a.kernel = 3;
  a.x = {buf.data(), StorageType::F32, 4, 4};
  a.out = {buf.data() + 100, StorageType::F32, 4, 4};
  a.expand_w = a.dw_w = a.project_w = w.data();
  CHECK_THROWS(fc::inverted_bottleneck_cuda(a, nullptr), "scratch");
  a.scratch = buf.data() + 2;  // overlaps x
  CHECK_THROWS(fc::inverted_bottleneck_cuda(a, nullptr), "overlap");
  a.scratch = buf.data() + 1000;
  a.kernel = 2;
  CHECK_THROWS(fc::inverted_bottleneck_cuda(a, nullptr), "kernel");

  fc::SubpixelConvParams s;
  s.g = core::make_subpixel_conv_geometry(1, 4, 3, 3, 2, 1, 1, 3);
  s.x = buf.data();
  s.weight = w.data();
  s.out = buf.data() + 10;
  CHECK_THROWS(fc::subpixel_conv_cuda(s, nullptr), "overlap");
  s.g.c_hr = 2;
  CHECK_THROWS(fc::subpixel_conv_cuda(s, nullptr), "weight in-channels");
  CHECK_THROWS(fc::rgb_to_luma_cuda(buf.data(), core::PixelType::U8, 2, 2, 3, 2, w.data(),
                                    nullptr),
               "strides");
}

}  // namespace

int main() {
  std::vector<float> buf(10000, 1.0f), w(1000, 0.5f);
  test_cell_conv_checks(buf, w);
  test_other_checks(buf, w);
  return falsr::test::report("test_cuda_launchers");
}
