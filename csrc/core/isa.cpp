#include "core/isa.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace falsr::core {

namespace {

// Linux gives a process the AMX tile state only on request (arch_prctl
// ARCH_REQ_XCOMP_PERM); without it the first tile instruction faults.
bool request_amx_permission() {
#if defined(__linux__) && defined(__x86_64__)
  constexpr int kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512dq");
  const bool bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
  const bool amx = bf16 && __builtin_cpu_supports("amx-tile") &&
                   __builtin_cpu_supports("amx-bf16") && request_amx_permission();
  if (amx) return Isa::Amx;
  if (bf16) return Isa::Avx512Bf16;
  if (avx512) return Isa::Avx512;
  if (avx2) return Isa::Avx2;
#endif
  return Isa::Generic;
}

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
