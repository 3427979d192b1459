// Which vector instructions the CPU kernels may use: the CPU's own set, capped by the
// environment variable FALSR_CPU_ISA (like oneDNN's ONEDNN_MAX_CPU_ISA) so tests and CI
// can force every code path on one machine. A kernel never goes above cpu_isa(), so a
// CPU without AVX-512 or AMX never sees those instructions.
//
//   FALSR_CPU_ISA=generic | avx2 | avx512 | avx512_bf16 | amx   (unset or "best": the
//   default cap, see max_isa)
//
// Levels are ordered: amx implies avx512_bf16 implies avx512 (F/BW/VL/DQ) implies avx2
// (+fma). avx512_bf16 adds vdpbf16ps (bf16 pairs, fp32 accumulation).
#pragma once

namespace falsr::core {

enum class Isa : int { Generic = 0, Avx2 = 1, Avx512 = 2, Avx512Bf16 = 3, Amx = 4 };

// The best level this CPU supports (and, for AMX, that the OS lets us use).
Isa cpu_isa();

// min(cpu_isa(), FALSR_CPU_ISA). Read on every call (cheap), so a test can change the
// variable between calls. Throws std::invalid_argument on an unknown value.
// Unset (or "best") caps at avx512_bf16: the AMX path has only run on a tile emulator so
// far, never on AMX hardware, so it runs only when asked for with FALSR_CPU_ISA=amx.
Isa max_isa();

const char* isa_name(Isa isa);

}  // namespace falsr::core
