// CUDA inverted-bottleneck block as three cell-conv launches (expand + ReLU, depthwise
// 3x3 + ReLU, project + x [+ extra]) through fp32 wide maps in caller-owned scratch.
// Unlike the CPU op the wide maps do go through memory (L2 on an H100 holds a few
// hundred rows of them); a fused shared-memory version is future work. The arithmetic
// is fp32 throughout, the output rounded once, as on the CPU.
#include "cuda/inverted_bottleneck_cuda.h"

#include <string>

#include "core/shapes.h"
#include "cuda/cell_conv_cuda.h"

namespace falsr::cuda {

int64_t inverted_bottleneck_cuda_scratch_floats(int64_t batch, int64_t height, int64_t width,
                                                int64_t wide) {
  return core::checked_numel({2, batch, height, width, wide}, "inverted_bottleneck scratch");
}

cudaError_t inverted_bottleneck_cuda(const InvertedBottleneckCudaArgs& a, cudaStream_t stream) {
  core::check_positive(a.filters, "filters");
  core::check_positive(a.wide, "wide");
  if (a.kernel != 1 && a.kernel != 3) {
    core::fail_invalid("kernel must be 1 or 3, got " + std::to_string(a.kernel));
  }
  if (a.x.channels != a.filters || a.out.channels != a.filters) {
    core::fail_invalid("x and out must have filters (" + std::to_string(a.filters) +
                       ") channels, got " + std::to_string(a.x.channels) + " and " +
                       std::to_string(a.out.channels));
  }
  if (a.expand_w == nullptr || a.dw_w == nullptr || a.project_w == nullptr) {
    core::fail_invalid("expand_w, dw_w and project_w must not be null");
  }
  if (a.scratch == nullptr) core::fail_invalid("scratch is a null pointer");
  const int64_t plane =
      inverted_bottleneck_cuda_scratch_floats(a.batch, a.height, a.width, a.wide) / 2;
  const DevMutPlane h1{a.scratch, StorageType::F32, a.wide, a.wide};
  const DevMutPlane h2{a.scratch + plane, StorageType::F32, a.wide, a.wide};

  CellConvParams expand;
  expand.batch = a.batch;
  expand.height = a.height;
  expand.width = a.width;
  expand.num_inputs = 1;
  expand.inputs[0] = a.x;
  expand.weight = a.expand_w;
  expand.bias = a.expand_b;
  expand.in_channels = a.filters;
  expand.out_channels = a.wide;
  expand.kernel = static_cast<int32_t>(a.kernel);
  expand.relu = true;
  expand.out = h1;

  CellConvParams dw = expand;
  dw.inputs[0] = DevPlane{h1.data, StorageType::F32, a.wide, a.wide};
  dw.weight = a.dw_w;
  dw.bias = a.dw_b;
  dw.in_channels = a.wide;
  dw.kernel = 3;
  dw.groups = a.wide;
  dw.out = h2;

  CellConvParams project = expand;
  project.inputs[0] = DevPlane{h2.data, StorageType::F32, a.wide, a.wide};
  project.weight = a.project_w;
  project.bias = a.project_b;
  project.in_channels = a.wide;
  project.out_channels = a.filters;
  project.relu = false;
  project.num_residuals = a.has_extra_residual ? 2 : 1;
  project.residuals[0] = a.x;
  project.residuals[1] = a.extra_residual;
  project.out = a.out;

  // Every check before the first launch: a bad argument never leaves half a block done.
  check_cell_conv_params(expand);
  check_cell_conv_params(dw);
  check_cell_conv_params(project);
  for (const CellConvParams* p : {&expand, &dw, &project}) {
    const cudaError_t status = cell_conv_cuda(*p, stream);
    if (status != cudaSuccess) return status;
  }
  return cudaSuccess;
}

}  // namespace falsr::cuda
