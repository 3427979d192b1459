// The front door of the cell convolution: argument checks, the choice of code path
// (AMX bf16, depthwise, small groups, Winograd, then direct; each factory says nullptr
// when it does not apply) and the naive double-accumulating reference used by the tests.
#include "core/cell_conv.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/cell_conv_paths.h"
#include "core/shapes.h"

namespace falsr::core {

namespace {

int64_t dtype_size(DType dt) { return dt == DType::BF16 ? 2 : 4; }

void check_dtype(DType dt, const std::string& name) {
  if (dt != DType::F32 && dt != DType::BF16) {
    fail_invalid(name + ".dtype must be F32 or BF16, got " +
                 std::to_string(static_cast<int>(dt)));
  }
}

// The bytes a plane spans: [begin, end), plus its layout for the interleaving test.
struct ByteRange {
  uintptr_t begin = 0, end = 0;
  int64_t stride_bytes = 0, width_bytes = 0;
};

// Checks one plane (channels, stride, dtype, pointer, size) and returns its byte range.
ByteRange check_plane(const void* data, DType dtype, int64_t channels, int64_t pixel_stride,
                      int64_t pixels, const std::string& name) {
  check_dtype(dtype, name);
  check_positive(channels, (name + ".channels").c_str());
  if (pixel_stride < channels) {
    fail_invalid(name + ".pixel_stride (" + std::to_string(pixel_stride) +
                 ") must be >= its channels (" + std::to_string(channels) + ")");
  }
  if (data == nullptr) fail_invalid(name + ".data is a null pointer");
  const int64_t elems = checked_mul(pixels - 1, pixel_stride, (name + " size").c_str()) + channels;
  const int64_t bytes = checked_bytes(elems, static_cast<size_t>(dtype_size(dtype)),
                                      (name + " size").c_str());
  ByteRange r;
  r.begin = reinterpret_cast<uintptr_t>(data);
  r.end = r.begin + static_cast<uintptr_t>(bytes);
  if (r.end < r.begin) fail_invalid(name + " wraps around the address space");
  r.stride_bytes = pixel_stride * dtype_size(dtype);
  r.width_bytes = channels * dtype_size(dtype);
  return r;
}

// Whether two planes share a byte. Planes that interleave as channel slices of one NHWC
// buffer (same byte stride, disjoint channel intervals) do not, though their ranges do.
bool planes_overlap(const ByteRange& a, const ByteRange& b) {
  if (a.end <= b.begin || b.end <= a.begin) return false;
  if (a.stride_bytes != b.stride_bytes) return true;
  const int64_t s = a.stride_bytes;
  // b's pixels start at offset r within a's pixels (mod the shared stride).
  const int64_t d = static_cast<int64_t>(b.begin - a.begin);  // two's complement difference
  const int64_t r = ((d % s) + s) % s;
  return !(a.width_bytes <= r && r + b.width_bytes <= s);
}

void validate(const CellConvArgs& a) {
  check_positive(a.batch, "batch");
  check_positive(a.height, "height");
  check_positive(a.width, "width");
  const int64_t pixels = checked_numel({a.batch, a.height, a.width}, "batch * height * width");
  if (a.inputs.empty()) fail_invalid("inputs must hold at least one plane");
  int64_t cin = 0;
  std::vector<ByteRange> reads;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const Plane& p = a.inputs[i];
    const std::string name = "inputs[" + std::to_string(i) + "]";
    reads.push_back(check_plane(p.data, p.dtype, p.channels, p.pixel_stride, pixels, name));
    cin += p.channels;
    if (cin < 0 || cin > (int64_t{1} << 40)) fail_invalid("input channels overflow");
  }
  if (a.kernel != 1 && a.kernel != 3) {
    fail_invalid("kernel must be 1 or 3, got " + std::to_string(a.kernel));
  }
  check_positive(a.out_channels, "out_channels");
  check_positive(a.groups, "groups");
  if (cin % a.groups != 0) {
    fail_invalid("groups (" + std::to_string(a.groups) + ") must divide the input channels (" +
                 std::to_string(cin) + ")");
  }
  if (a.out_channels % a.groups != 0) {
    fail_invalid("groups (" + std::to_string(a.groups) + ") must divide out_channels (" +
                 std::to_string(a.out_channels) + ")");
  }
  checked_numel({a.out_channels, cin / a.groups, a.kernel, a.kernel, 4}, "weight size");
  if (a.weight == nullptr) fail_invalid("weight is a null pointer");
  if (a.out.channels != a.out_channels) {
    fail_invalid("out.channels (" + std::to_string(a.out.channels) + ") must equal out_channels (" +
                 std::to_string(a.out_channels) + ")");
  }
  const ByteRange out =
      check_plane(a.out.data, a.out.dtype, a.out.channels, a.out.pixel_stride, pixels, "out");
  if (a.has_residual) {
    if (a.residual.channels != a.out_channels) {
      fail_invalid("residual.channels (" + std::to_string(a.residual.channels) +
                   ") must equal out_channels (" + std::to_string(a.out_channels) + ")");
    }
    reads.push_back(check_plane(a.residual.data, a.residual.dtype, a.residual.channels,
                                a.residual.pixel_stride, pixels, "residual"));
  }
  for (size_t i = 0; i < reads.size(); ++i) {
    if (planes_overlap(out, reads[i])) {
      fail_invalid("out must not overlap " + (i < a.inputs.size()
                                                  ? "inputs[" + std::to_string(i) + "]"
                                                  : std::string("residual")));
    }
  }
  if (a.algo != ConvAlgo::Auto && a.algo != ConvAlgo::Direct) {
    fail_invalid("algo must be Auto or Direct, got " + std::to_string(static_cast<int>(a.algo)));
  }
}

float load_element(const void* data, DType dt, int64_t i) {
  return dt == DType::F32 ? static_cast<const float*>(data)[i]
                          : bf16_to_float(static_cast<const uint16_t*>(data)[i]);
}

}  // namespace

std::unique_ptr<CellConvPlan> make_cell_conv_plan(const CellConvArgs& a) {
  validate(a);
  const Isa isa = max_isa();
  if (static_cast<int>(isa) >= static_cast<int>(Isa::Amx)) {
    if (auto plan = make_amx_cell_conv_plan(a, isa)) return plan;
  }
  // Depthwise and small groups: their own vectorisation beats the dense paths (Auto
  // only: ConvAlgo::Direct pins the generic direct path).
  if (a.algo == ConvAlgo::Auto) {
    if (auto plan = make_depthwise_cell_conv_plan(a, isa)) return plan;
    if (auto plan = make_grouped_cell_conv_plan(a, isa)) return plan;
  }
  if (static_cast<int>(isa) >= static_cast<int>(Isa::Avx512Bf16)) {
    if (a.algo == ConvAlgo::Auto) {
      if (auto plan = make_winograd_bf16_cell_conv_plan(a, isa)) return plan;
    }
    if (auto plan = make_bf16_cell_conv_plan(a, isa)) return plan;
  }
  if (a.algo == ConvAlgo::Auto) {
    if (auto plan = make_winograd_cell_conv_plan(a, isa)) return plan;
  }
  if (auto plan = make_direct_cell_conv_plan(a, isa)) return plan;
  fail_invalid("cell_conv: no code path applies");  // the direct path handles every case
}

void cell_conv_naive(const CellConvArgs& a) {
  validate(a);
  int64_t cin = 0;
  for (const Plane& p : a.inputs) cin += p.channels;
  const int64_t k = a.kernel, pad = k / 2, cout = a.out_channels;
  const int64_t cin_g = cin / a.groups, cout_g = cout / a.groups;
  // Input channel c -> (plane, channel within it).
  std::vector<std::pair<size_t, int64_t>> where;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    for (int64_t c = 0; c < a.inputs[i].channels; ++c) where.emplace_back(i, c);
  }
  for (int64_t n = 0; n < a.batch; ++n) {
    for (int64_t y = 0; y < a.height; ++y) {
      for (int64_t x = 0; x < a.width; ++x) {
        const int64_t pix = (n * a.height + y) * a.width + x;
        for (int64_t co = 0; co < cout; ++co) {
          const int64_t g = co / cout_g;
          double acc = a.bias != nullptr ? a.bias[co] : 0.0;
          for (int64_t ci = 0; ci < cin_g; ++ci) {
            const auto [plane, c] = where[static_cast<size_t>(g * cin_g + ci)];
            const Plane& p = a.inputs[plane];
            for (int64_t ky = 0; ky < k; ++ky) {
              const int64_t yy = y + ky - pad;
              if (yy < 0 || yy >= a.height) continue;
              for (int64_t kx = 0; kx < k; ++kx) {
                const int64_t xx = x + kx - pad;
                if (xx < 0 || xx >= a.width) continue;
                const int64_t src = ((n * a.height + yy) * a.width + xx) * p.pixel_stride + c;
                acc += static_cast<double>(a.weight[((co * cin_g + ci) * k + ky) * k + kx]) *
                       load_element(p.data, p.dtype, src);
              }
            }
          }
          float v = static_cast<float>(acc);
          if (a.relu && v < 0.0f) v = 0.0f;
          if (a.has_residual) {
            v += load_element(a.residual.data, a.residual.dtype, pix * a.residual.pixel_stride + co);
          }
          const int64_t dst = pix * a.out.pixel_stride + co;
          if (a.out.dtype == DType::F32) {
            static_cast<float*>(a.out.data)[dst] = v;
          } else {
            static_cast<uint16_t*>(a.out.data)[dst] = float_to_bf16(v);
          }
        }
      }
    }
  }
}

}  // namespace falsr::core
