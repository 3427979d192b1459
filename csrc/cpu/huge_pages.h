// Transparent huge pages for big fresh outputs. A large at::empty comes from a fresh
// mmap, and first-touching it page by page (4 KiB faults) costs more than the kernel
// that fills it: 118 MB of pixel_shuffle output took ~23 ms of faults vs ~1.3 ms of
// copying. Where THP is in "madvise" mode (common), asking for huge pages on the
// untouched range cuts the faults ~500x. It is advice only: where the kernel declines,
// the memory is the same, just slower to touch.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace falsr {

// Below this, faults are cheap next to the work and the range rarely spans a 2 MiB page.
constexpr std::size_t kHugePageAdviceMinBytes = std::size_t{8} << 20;

inline void advise_huge_pages(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (data == nullptr || bytes < kHugePageAdviceMinBytes) return;
  constexpr std::uintptr_t kPage = 4096;
  const auto begin = (reinterpret_cast<std::uintptr_t>(data) + kPage - 1) & ~(kPage - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(kPage - 1);
  if (end > begin) {
    (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace falsr
