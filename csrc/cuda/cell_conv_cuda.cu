// CUDA cell convolution (NHWC, concat read in place, groups, bias, ReLU, residuals).
//
// Two direct kernels around the shared per-thread arithmetic (cuda/cell_conv_point.h):
//  * dense / grouped: a block of kThreads consecutive pixels times one block of COB
//    output channels (blockIdx.y). The block stages its weights in shared memory as
//    [Cin/g][k*k][COB] (every thread reads the same address: a broadcast), then each
//    thread accumulates its pixel's COB outputs in registers (COB FMAs per input
//    load). Weights too large for 48 KB of shared memory are read from global memory
//    (still warp-uniform addresses).
//  * depthwise (one input and one output channel per group): one thread per
//    (pixel, channel), channel fastest, so a warp reads and writes consecutive
//    addresses.
// fp32 accumulation always; storage fp32 / bf16 / fp16 per plane.
// Dense convs whose inputs are all bf16 or all fp16 (Cout a multiple of 16) run instead
// on tensor cores (cell_conv_mma_cuda.cu) unless p.allow_tensor_cores is false.
#include "cuda/cell_conv_cuda.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/shapes.h"
#include "cuda/cell_conv_mma.h"

namespace falsr::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int64_t kMaxSharedBytes = 48 * 1024;

template <int COB>
__global__ void __launch_bounds__(kThreads)
    cell_conv_packed_kernel(const CellConvParams p, int64_t pixels) {
  extern __shared__ float packed[];
  const int64_t cig = p.in_channels / p.groups;
  const int32_t kk = p.kernel * p.kernel;
  const int64_t co0 = static_cast<int64_t>(blockIdx.y) * COB;
  const int64_t count = cig * kk * COB;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    packed[i] = p.weight[packed_weight_source(i, cig, kk, COB, co0)];
  }
  __syncthreads();
  const int64_t pixel = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (pixel < pixels) {
    cell_conv_point<COB>(p, pixel, co0, PackedWeights{packed, kk, COB});
  }
}

template <int COB>
__global__ void __launch_bounds__(kThreads)
    cell_conv_global_kernel(const CellConvParams p, int64_t pixels) {
  const int64_t cig = p.in_channels / p.groups;
  const int32_t kk = p.kernel * p.kernel;
  const int64_t co0 = static_cast<int64_t>(blockIdx.y) * COB;
  const int64_t pixel = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (pixel < pixels) {
    cell_conv_point<COB>(p, pixel, co0, GlobalWeights{p.weight, cig, kk, co0});
  }
}

__global__ void __launch_bounds__(kThreads)
    cell_conv_depthwise_kernel(const CellConvParams p, int64_t total) {
  const int32_t kk = p.kernel * p.kernel;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += stride) {
    const int64_t c = idx % p.out_channels;
    cell_conv_point<1>(p, idx / p.out_channels, c, GlobalWeights{p.weight, 1, kk, c});
  }
}

template <int COB>
void launch_dense(const CellConvParams& p, int64_t pixels, cudaStream_t stream) {
  const int64_t cig = p.in_channels / p.groups;
  const int64_t shared = cig * p.kernel * p.kernel * COB * static_cast<int64_t>(sizeof(float));
  const dim3 grid(static_cast<unsigned>((pixels + kThreads - 1) / kThreads),
                  static_cast<unsigned>(p.out_channels / COB));
  if (shared <= kMaxSharedBytes) {
    cell_conv_packed_kernel<COB>
        <<<grid, kThreads, static_cast<size_t>(shared), stream>>>(p, pixels);
  } else {
    cell_conv_global_kernel<COB><<<grid, kThreads, 0, stream>>>(p, pixels);
  }
}

struct ByteRange {
  uintptr_t begin = 0, end = 0;
  int64_t stride_bytes = 0, width_bytes = 0;
};

ByteRange check_plane(const void* data, StorageType type, int64_t channels,
                      int64_t pixel_stride, int64_t pixels, const std::string& name) {
  if (type != StorageType::F32 && type != StorageType::BF16 && type != StorageType::F16) {
    core::fail_invalid(name + ".type must be F32, BF16 or F16, got " +
                       std::to_string(static_cast<int>(type)));
  }
  core::check_positive(channels, (name + ".channels").c_str());
  if (pixel_stride < channels) {
    core::fail_invalid(name + ".pixel_stride (" + std::to_string(pixel_stride) +
                       ") must be >= its channels (" + std::to_string(channels) + ")");
  }
  if (data == nullptr) core::fail_invalid(name + ".data is a null pointer");
  const int64_t elems =
      core::checked_mul(pixels - 1, pixel_stride, (name + " size").c_str()) + channels;
  const int64_t bytes = core::checked_bytes(elems, static_cast<size_t>(storage_bytes(type)),
                                            (name + " size").c_str());
  ByteRange r;
  r.begin = reinterpret_cast<uintptr_t>(data);
  r.end = r.begin + static_cast<uintptr_t>(bytes);
  r.stride_bytes = pixel_stride * storage_bytes(type);
  r.width_bytes = channels * storage_bytes(type);
  return r;
}

// As core/cell_conv.cpp: channel slices interleaved in one NHWC buffer do not overlap.
bool planes_overlap(const ByteRange& a, const ByteRange& b) {
  if (a.end <= b.begin || b.end <= a.begin) return false;
  if (a.stride_bytes != b.stride_bytes) return true;
  const int64_t s = a.stride_bytes;
  const int64_t d = static_cast<int64_t>(b.begin - a.begin);
  const int64_t r = ((d % s) + s) % s;
  return !(a.width_bytes <= r && r + b.width_bytes <= s);
}

}  // namespace

void check_cell_conv_params(const CellConvParams& p) {
  core::check_positive(p.batch, "batch");
  core::check_positive(p.height, "height");
  core::check_positive(p.width, "width");
  const int64_t pixels =
      core::checked_numel({p.batch, p.height, p.width}, "batch * height * width");
  if (p.num_inputs < 1 || p.num_inputs > kMaxConvInputs) {
    core::fail_invalid("the CUDA cell conv reads 1 to " + std::to_string(kMaxConvInputs) +
                       " input planes, got " + std::to_string(p.num_inputs));
  }
  std::vector<ByteRange> reads;
  int64_t cin = 0;
  for (int32_t i = 0; i < p.num_inputs; ++i) {
    const DevPlane& pl = p.inputs[i];
    const std::string name = "inputs[" + std::to_string(i) + "]";
    reads.push_back(check_plane(pl.data, pl.type, pl.channels, pl.pixel_stride, pixels, name));
    cin += pl.channels;
    if (cin > (int64_t{1} << 40)) core::fail_invalid("input channels overflow");
  }
  if (cin != p.in_channels) {
    core::fail_invalid("in_channels (" + std::to_string(p.in_channels) +
                       ") must equal the inputs' channels (" + std::to_string(cin) + ")");
  }
  if (p.kernel != 1 && p.kernel != 3) {
    core::fail_invalid("kernel must be 1 or 3, got " + std::to_string(p.kernel));
  }
  core::check_positive(p.out_channels, "out_channels");
  core::check_positive(p.groups, "groups");
  if (cin % p.groups != 0 || p.out_channels % p.groups != 0) {
    core::fail_invalid("groups (" + std::to_string(p.groups) +
                       ") must divide the input channels (" + std::to_string(cin) +
                       ") and out_channels (" + std::to_string(p.out_channels) + ")");
  }
  if (p.out_channels > 65535) core::fail_invalid("out_channels must be <= 65535 (the grid)");
  if (pixels > (int64_t{1} << 31) * kThreads) core::fail_invalid("image too large for the grid");
  if (p.weight == nullptr) core::fail_invalid("weight is a null pointer");
  if (p.out.channels != p.out_channels) {
    core::fail_invalid("out.channels (" + std::to_string(p.out.channels) +
                       ") must equal out_channels (" + std::to_string(p.out_channels) + ")");
  }
  const ByteRange out =
      check_plane(p.out.data, p.out.type, p.out.channels, p.out.pixel_stride, pixels, "out");
  if (p.num_residuals < 0 || p.num_residuals > kMaxConvResiduals) {
    core::fail_invalid("num_residuals must be 0 to " + std::to_string(kMaxConvResiduals));
  }
  for (int32_t i = 0; i < p.num_residuals; ++i) {
    const DevPlane& r = p.residuals[i];
    const std::string name = "residuals[" + std::to_string(i) + "]";
    if (r.channels != p.out_channels) {
      core::fail_invalid(name + ".channels (" + std::to_string(r.channels) +
                         ") must equal out_channels (" + std::to_string(p.out_channels) + ")");
    }
    reads.push_back(check_plane(r.data, r.type, r.channels, r.pixel_stride, pixels, name));
  }
  for (size_t i = 0; i < reads.size(); ++i) {
    if (planes_overlap(out, reads[i])) {
      const auto ni = static_cast<size_t>(p.num_inputs);
      core::fail_invalid("out must not overlap " +
                         (i < ni ? "inputs[" + std::to_string(i) + "]"
                                 : "residuals[" + std::to_string(i - ni) + "]"));
    }
  }
}

cudaError_t cell_conv_cuda(const CellConvParams& p, cudaStream_t stream) {
  check_cell_conv_params(p);
  const int64_t pixels = p.batch * p.height * p.width;
  const int64_t cig = p.in_channels / p.groups;
  const int64_t cog = p.out_channels / p.groups;
  StorageType t16 = StorageType::F32;
  if (p.allow_tensor_cores && cell_conv_mma_applies(p, &t16)) {
    return cell_conv_mma_cuda(p, t16, stream);
  }
  if (cig == 1 && cog == 1) {
    const int64_t total = pixels * p.out_channels;
    const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, int64_t{1} << 20);
    cell_conv_depthwise_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p, total);
    return cudaGetLastError();
  }
  switch (cell_conv_block(cog)) {
    case 8:
      launch_dense<8>(p, pixels, stream);
      break;
    case 4:
      launch_dense<4>(p, pixels, stream);
      break;
    case 2:
      launch_dense<2>(p, pixels, stream);
      break;
    default:
      launch_dense<1>(p, pixels, stream);
      break;
  }
  return cudaGetLastError();
}

}  // namespace falsr::cuda
