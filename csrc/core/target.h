// Portable "compile this region for instruction set X" markers, so one source file can
// hold AVX2 / AVX-512 kernels next to the generic path and pick one at run time
// (core/isa.h). GCC: `#pragma GCC push_options` + `#pragma GCC target(...)`; Clang (which
// ignores `#pragma GCC target`): `#pragma clang attribute push(target(...))`, applied to
// every function, lambda and template declared in the region.
//
//   FALSR_TARGET_PUSH("avx2,fma")
//   ... kernels ...
//   FALSR_TARGET_POP
//
// Only meaningful on x86-64: callers keep these regions inside `#if defined(__x86_64__)`.
// FALSR_IGNORE_MAYBE_UNINITIALIZED silences GCC's -Wmaybe-uninitialized false positives
// on masked vector code (Clang has no such warning; naming it would warn).
#pragma once

#define FALSR_PRAGMA(...) _Pragma(#__VA_ARGS__)

#if defined(__clang__)
#define FALSR_TARGET_PUSH(isa) \
  FALSR_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define FALSR_TARGET_POP FALSR_PRAGMA(clang attribute pop)
#define FALSR_IGNORE_MAYBE_UNINITIALIZED
#elif defined(__GNUC__)
#define FALSR_TARGET_PUSH(isa) FALSR_PRAGMA(GCC push_options) FALSR_PRAGMA(GCC target(isa))
#define FALSR_TARGET_POP FALSR_PRAGMA(GCC pop_options)
#define FALSR_IGNORE_MAYBE_UNINITIALIZED FALSR_PRAGMA(GCC diagnostic ignored "-Wmaybe-uninitialized")
#else
#define FALSR_TARGET_PUSH(isa)
#define FALSR_TARGET_POP
#define FALSR_IGNORE_MAYBE_UNINITIALIZED
#endif
