// The code paths behind make_cell_conv_plan (cell_conv.cpp validates the arguments,
// then asks each path in turn; a path returns nullptr when it does not apply).
#pragma once

#include <memory>

#include "core/cell_conv.h"

namespace falsr::core {

// AMX bf16 (Isa::Amx): all inputs bf16, groups == 1 or small groups (block-diagonal).
// cell_conv_amx.cpp. Opt-in (FALSR_CPU_ISA=amx): verified on a tile emulator only.
std::unique_ptr<CellConvPlan> make_amx_cell_conv_plan(const CellConvArgs& a, Isa isa);

// Winograd F(2x2, 3x3) with bf16 dot products (Isa::Avx512Bf16): all inputs bf16, k == 3,
// groups == 1, >= 16 channels; V and U rounded to bf16 (~3x the direct bf16 error, still
// ~3e-3 of sum|terms|). ConvAlgo::Auto only. cell_conv_winograd_bf16.cpp.
std::unique_ptr<CellConvPlan> make_winograd_bf16_cell_conv_plan(const CellConvArgs& a, Isa isa);

// AVX-512 bf16 dot products (vdpbf16ps, Isa::Avx512Bf16): all inputs bf16, dense k 1|3.
// cell_conv_bf16.cpp.
std::unique_ptr<CellConvPlan> make_bf16_cell_conv_plan(const CellConvArgs& a, Isa isa);

// Winograd F(2x2, 3x3) fp32 (Isa::Avx512): all inputs fp32, k == 3, groups == 1.
// cell_conv_winograd.cpp.
std::unique_ptr<CellConvPlan> make_winograd_cell_conv_plan(const CellConvArgs& a, Isa isa);

// Depthwise (groups == Cin == Cout), k 1|3, any planes: vectors across channels, planes
// read in place (generic, AVX2, AVX-512). cell_conv_depthwise.cpp.
std::unique_ptr<CellConvPlan> make_depthwise_cell_conv_plan(const CellConvArgs& a, Isa isa);

// Small groups (G in {2, 4, 8, 16} dividing the lanes), k 1|3, any planes: vectors across
// the output channels of all groups; fp32 FMAs (generic, AVX2, AVX-512) or, all inputs
// bf16, avx512_bf16 dot products. Declines where it would not multiply at most half the
// lanes of the direct paths. cell_conv_grouped.cpp.
std::unique_ptr<CellConvPlan> make_grouped_cell_conv_plan(const CellConvArgs& a, Isa isa);

// Direct convolution, every case (generic C++, AVX2, AVX-512). cell_conv_direct.cpp.
std::unique_ptr<CellConvPlan> make_direct_cell_conv_plan(const CellConvArgs& a, Isa isa);

}  // namespace falsr::core
