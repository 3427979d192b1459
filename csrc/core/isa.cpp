#include "core/isa.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace falsr::core {

namespace {

// Linux gives a process the AMX tile state only on request (arch_prctl
// ARCH_REQ_XCOMP_PERM); without it the first tile instruction faults.
[[maybe_unused]] bool request_amx_permission() {
#if defined(__linux__) && defined(__x86_64__)
  constexpr int kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// CPUID + XGETBV directly (<cpuid.h> is GCC's and Clang's), rather than
// __builtin_cpu_supports: older compilers (e.g. Clang 14) reject its "avx512bf16" /
// "amx-*" names. A feature counts only if the OS also saves its register state (XCR0).
bool bit(unsigned reg, int b) { return ((reg >> b) & 1u) != 0; }

uint64_t xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

Isa detect() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::Generic;
  const bool fma = bit(c, 12), osxsave = bit(c, 27), avx = bit(c, 28);
  if (!(osxsave && avx && fma)) return Isa::Generic;
  const uint64_t xcr = xcr0();
  if ((xcr & 0x6) != 0x6) return Isa::Generic;  // SSE + AVX (YMM) state
  if (__get_cpuid_max(0, nullptr) < 7) return Isa::Generic;
  unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0;
  __cpuid_count(7, 0, a, b7, c7, d7);
  __cpuid_count(7, 1, a71, b, c, d);
  const bool avx2 = bit(b7, 5);
  const bool avx512 = avx2 && (xcr & 0xe0) == 0xe0 &&  // opmask + ZMM state
                      bit(b7, 16) && bit(b7, 17) && bit(b7, 30) && bit(b7, 31);  // F DQ BW VL
  const bool bf16 = avx512 && bit(a71, 5);                                       // AVX512_BF16
  const bool amx = bf16 && (xcr & 0x60000) == 0x60000 &&  // XTILECFG + XTILEDATA state
                   bit(d7, 24) && bit(d7, 22) && request_amx_permission();  // AMX-TILE, -BF16
  if (amx) return Isa::Amx;
  if (bf16) return Isa::Avx512Bf16;
  if (avx512) return Isa::Avx512;
  if (avx2) return Isa::Avx2;
  return Isa::Generic;
}
#else
Isa detect() { return Isa::Generic; }  // aarch64 and others: the generic kernels
#endif

}  // namespace

Isa cpu_isa() {
  static const Isa isa = detect();  // thread-safe static init; the syscall runs once
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Generic: return "generic";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Bf16: return "avx512_bf16";
    case Isa::Amx: return "amx";
  }
  return "unknown";
}

Isa max_isa() {
  const Isa cpu = cpu_isa();
  const char* env = std::getenv("FALSR_CPU_ISA");
  if (env == nullptr || *env == '\0' || std::strcmp(env, "best") == 0) {
    return static_cast<int>(cpu) < static_cast<int>(Isa::Amx) ? cpu : Isa::Avx512Bf16;
  }
  for (Isa cap : {Isa::Generic, Isa::Avx2, Isa::Avx512, Isa::Avx512Bf16, Isa::Amx}) {
    if (std::strcmp(env, isa_name(cap)) == 0) return static_cast<int>(cap) < static_cast<int>(cpu) ? cap : cpu;
  }
  throw std::invalid_argument(std::string("FALSR_CPU_ISA=") + env +
                              " is not one of generic, avx2, avx512, avx512_bf16, amx, best");
}

}  // namespace falsr::core
