// The AMX bf16 path of the cell convolution: all inputs bf16, any Cin / Cout / width
// (channels and pixels are padded inside the kernel), groups computed as a dense
// block-diagonal conv when that wastes at most kMaxWaste of the tile MACs (AMX runs
// bf16 roughly 5x faster than AVX-512 bf16 FMAs, so up to 4x waste still pays;
// depthwise convs do not qualify). The implicit GEMM is in cell_conv_amx_kernel.h.
#include <memory>
#include <string>
#include <utility>

#include "core/cell_conv_amx_kernel.h"
#include "core/cell_conv_paths.h"

namespace falsr::core {

#if FALSR_AMX_AVAILABLE
namespace {

constexpr double kMaxWaste = 4.0;

class AmxCellConvPlan final : public CellConvPlan {
 public:
  AmxCellConvPlan(const CellConvArgs& a, amx::Layout layout)
      : layout_(std::move(layout)), packed_(amx::pack_weights(layout_, a.weight)) {}

  int64_t num_tasks() const override { return layout_.num_tasks(); }

  void run_tasks(const CellConvArgs& a, int64_t begin, int64_t end) const override {
    if (begin >= end) return;
    amx::run_tasks<amx::AmxTiles>(layout_, packed_.get(), a, begin, end);
  }

  std::string path() const override { return "amx/implicit_gemm"; }

 private:
  amx::Layout layout_;
  amx::AlignedBuf<uint16_t> packed_;
};

}  // namespace

std::unique_ptr<CellConvPlan> make_amx_cell_conv_plan(const CellConvArgs& a, Isa isa) {
  // cpu_isa() also obtains the kernel's permission to use the tile state.
  if (static_cast<int>(isa) < static_cast<int>(Isa::Amx) ||
      static_cast<int>(cpu_isa()) < static_cast<int>(Isa::Amx)) {
    return nullptr;
  }
  if (a.groups < 1 || (a.kernel != 1 && a.kernel != 3) || a.inputs.empty()) return nullptr;
  for (const Plane& p : a.inputs) {
    if (p.dtype != DType::BF16) return nullptr;
  }
  amx::Layout layout = amx::make_layout(a);
  if (a.groups > 1 && amx::waste_factor(layout) > kMaxWaste) return nullptr;
  return std::make_unique<AmxCellConvPlan>(a, std::move(layout));
}

#else

std::unique_ptr<CellConvPlan> make_amx_cell_conv_plan(const CellConvArgs&, Isa) {
  return nullptr;  // not an x86-64 GCC / Clang build: no AMX code compiled
}

#endif

}  // namespace falsr::core
