// The Python module falsr_ext._C. Importing it loads the shared library, which
// runs the TORCH_LIBRARY registrations (torch.ops.falsr.*). Python code uses the
// ops through falsr_ext.ops; the few helpers here describe the build.
#include <torch/extension.h>

#include <string>
#include <vector>

#include "core/isa.h"
#include "cpu/cell_conv_cpu.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

bool cuda_built() {
#ifdef WITH_CUDA
  return true;
#else
  return false;
#endif
}

// What the running CPU supports (for SIMD dispatch reports and benchmark logs).
pybind11::dict cpu_capabilities() {
  pybind11::dict d;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  d["arch"] = "x86_64";
  d["avx2"] = static_cast<bool>(__builtin_cpu_supports("avx2"));
  d["fma"] = static_cast<bool>(__builtin_cpu_supports("fma"));
  d["avx512f"] = static_cast<bool>(__builtin_cpu_supports("avx512f"));
  d["avx512bw"] = static_cast<bool>(__builtin_cpu_supports("avx512bw"));
  d["avx512vl"] = static_cast<bool>(__builtin_cpu_supports("avx512vl"));
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
  d["avx512bf16"] = static_cast<bool>(__builtin_cpu_supports("avx512bf16"));
  d["amx_bf16"] = static_cast<bool>(__builtin_cpu_supports("amx-bf16"));
#endif
#elif defined(__aarch64__)
  d["arch"] = "aarch64";
#else
  d["arch"] = "unknown";
#endif
#ifdef _OPENMP
  d["openmp"] = true;
  d["omp_max_threads"] = omp_get_max_threads();
#else
  d["openmp"] = false;
#endif
  d["compiler"] = std::string(__VERSION__);
  return d;
}

}  // namespace

namespace falsr {
void register_counter(pybind11::module_& m);  // counter_binding.cpp
}  // namespace falsr

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "falsr_ext compiled operators (registered as torch.ops.falsr.*)";
  m.def("cuda_built", &cuda_built, "Whether the extension was compiled with CUDA kernels.");
  m.def("cpu_capabilities", &cpu_capabilities,
        "Instruction-set features of the running CPU and the build's OpenMP support.");
  m.def(
      "cpu_isa", [] { return std::string(falsr::core::isa_name(falsr::core::max_isa())); },
      "The instruction set the CPU kernels use now: the CPU's best, capped by FALSR_CPU_ISA.");
  m.def(
      "cpu_isa_available",
      [] { return std::string(falsr::core::isa_name(falsr::core::cpu_isa())); },
      "The best instruction set this CPU supports (generic, avx2, avx512 or amx).");
  // pybind11 cannot make a non-owning at::TensorList from a Python list: take a vector.
  m.def(
      "cell_conv_path",
      [](const std::vector<at::Tensor>& inputs, const at::Tensor& weight, int64_t groups,
         bool direct_only) {
        return falsr::cell_conv_path_cpu(inputs, weight, groups, direct_only);
      },
      pybind11::arg("inputs"), pybind11::arg("weight"), pybind11::arg("groups") = 1,
      pybind11::arg("direct_only") = false,
      "The code path falsr::cell_conv takes for these arguments (e.g. 'avx512/direct').");
  falsr::register_counter(m);
}
