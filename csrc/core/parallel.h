// Splitting a kernel's independent tasks [0, tasks) over OpenMP threads, shared by the
// csrc/core kernels. Contiguous chunks: each thread streams through its own part of
// memory. Small jobs (under 64 Ki units of work) stay on the calling thread, and a call
// from inside a parallel region (e.g. at::parallel_for) never nests.
#pragma once

#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace falsr::core {

// Calls run(begin, end) on disjoint ranges covering [0, tasks). num_threads <= 0 means
// OpenMP's default.
template <class Run>
void parallel_tasks(int64_t tasks, int64_t work, int num_threads, Run&& run) {
  if (tasks <= 0) {
    return;
  }
#ifdef _OPENMP
  int64_t nt = num_threads > 0 ? num_threads : omp_get_max_threads();
  if (work < (int64_t{1} << 16)) {
    nt = 1;  // not worth waking threads
  }
  nt = std::min(nt, tasks);
  if (nt > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(static_cast<int>(nt))
    {
      const int64_t count = omp_get_num_threads();
      const int64_t chunk = (tasks + count - 1) / count;
      const int64_t b = std::min(tasks, omp_get_thread_num() * chunk);
      const int64_t e = std::min(tasks, b + chunk);
      if (b < e) {
        run(b, e);
      }
    }
    return;
  }
#else
  (void)work;
  (void)num_threads;
#endif
  run(int64_t{0}, tasks);
}

}  // namespace falsr::core
