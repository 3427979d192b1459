// CPU implementation of falsr::pixel_shuffle: checks and layout choice
// (pixel_shuffle_cpu.h), then the framework-free kernel from csrc/core run on
// PyTorch's intra-op thread pool (at::parallel_for: honours torch.set_num_threads
// and never nests threads inside an outer parallel region).
#include "cpu/pixel_shuffle_cpu.h"

#include "cpu/huge_pages.h"

#include <algorithm>

#include <ATen/Parallel.h>

namespace falsr {

namespace {

void run_pixel_shuffle(const PixelShufflePlan& plan, at::Tensor& out) {
  if (out.numel() == 0) {
    return;
  }
  const auto& g = plan.geometry;
  const std::size_t elem_size = plan.input.element_size();
  const void* src = plan.input.const_data_ptr();
  void* dst = out.mutable_data_ptr();
  const int64_t tasks = core::pixel_shuffle_num_tasks(g, plan.layout);
  // Run serially below ~64K elements (256 KB of fp32); above, split into one
  // contiguous range of tasks per thread.
  const int64_t task_elems = std::max<int64_t>(1, core::pixel_shuffle_task_elems(g, plan.layout));
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / task_elems);
  at::parallel_for(0, tasks, grain, [&](int64_t begin, int64_t end) {
    core::pixel_shuffle_tasks(src, dst, g, elem_size, plan.order, plan.layout, begin, end);
  });
}

}  // namespace

at::Tensor pixel_shuffle_cpu(const at::Tensor& x, int64_t scale, bool tf_order) {
  TORCH_CHECK(x.device().is_cpu(), "falsr::pixel_shuffle (CPU): expected a CPU tensor, got ",
              x.device());
  const PixelShufflePlan plan = plan_pixel_shuffle(x, scale, tf_order);
  at::Tensor out = empty_pixel_shuffle_output(plan);
  advise_huge_pages(out.mutable_data_ptr(), out.nbytes());  // before the first touch
  run_pixel_shuffle(plan, out);
  return out;
}

at::Tensor& pixel_shuffle_out_cpu(const at::Tensor& x, int64_t scale, bool tf_order,
                                  at::Tensor& out) {
  TORCH_CHECK(x.device().is_cpu(), "falsr::pixel_shuffle.out (CPU): expected a CPU tensor, got ",
              x.device());
  const PixelShufflePlan plan = plan_pixel_shuffle(x, scale, tf_order);
  check_pixel_shuffle_out(plan, out);
  run_pixel_shuffle(plan, out);
  return out;
}

}  // namespace falsr
