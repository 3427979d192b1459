"""Build of falsr_ext._C (torch.utils.cpp_extension, ninja).

Install with ``pip install --no-build-isolation .`` (or ``-e .``): the extension compiles
against the torch already installed, so torch must be installed first.

Sources are globbed, so new files are picked up without editing this file:
  always:    csrc/core/*.cpp, csrc/cpu/*.cpp, csrc/torch/*.cpp except *_cuda*.cpp
  with CUDA: csrc/cuda/*.cu and csrc/torch/*_cuda*.cpp, plus -DWITH_CUDA
Tests under csrc/core/tests/ are CMake's, not the extension's.

CUDA is built when torch has CUDA (torch.version.cuda) and nvcc is found (CUDA_HOME).
Environment overrides: FORCE_CUDA=1 builds CUDA regardless (fails if nvcc is missing),
FALSR_NO_CUDA=1 never builds it. DEBUG=1 compiles with -O0 -g.
"""

from __future__ import annotations

import glob
import os
import sys

import torch
from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(ROOT, "csrc")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _rel(paths: list[str]) -> list[str]:
    # setuptools wants paths relative to setup.py.
    return sorted(os.path.relpath(p, ROOT) for p in paths)


def _is_cuda_only(path: str) -> bool:
    return "_cuda" in os.path.basename(path)


def _use_cuda() -> tuple[bool, str]:
    if _flag("FALSR_NO_CUDA"):
        return False, "FALSR_NO_CUDA=1"
    if _flag("FORCE_CUDA"):
        if torch.version.cuda is None:
            sys.exit(f"FORCE_CUDA=1 but torch {torch.__version__} is a CPU-only build")
        if CUDA_HOME is None:
            sys.exit("FORCE_CUDA=1 but nvcc was not found; set CUDA_HOME")
        return True, "FORCE_CUDA=1"
    if torch.version.cuda is None:
        return False, f"torch {torch.__version__} has no CUDA"
    if CUDA_HOME is None:
        return False, f"torch has CUDA {torch.version.cuda} but nvcc / CUDA_HOME was not found"
    return True, f"torch CUDA {torch.version.cuda}, nvcc in {CUDA_HOME}"


def get_extensions():
    debug = _flag("DEBUG")
    use_cuda, why = _use_cuda()
    print(f"falsr_ext: building {'CPU + CUDA' if use_cuda else 'CPU only'} ({why})")

    cpp = [
        p
        for sub in ("core", "cpu", "torch")
        for p in glob.glob(os.path.join(CSRC, sub, "*.cpp"))
        if not _is_cuda_only(p)
    ]
    cuda: list[str] = []
    if use_cuda:
        cuda = glob.glob(os.path.join(CSRC, "cuda", "*.cu"))
        cuda += [p for p in glob.glob(os.path.join(CSRC, "torch", "*.cpp")) if _is_cuda_only(p)]

    opt = ["-O0", "-g"] if debug else ["-O3"]
    # No -std here: torch.utils.cpp_extension adds the standard torch's headers need
    # (C++20 for torch 2.13); csrc/core itself is C++17-clean (CMake builds it so).
    cxx = [*opt, "-fopenmp", "-fdiagnostics-color=always", "-Wall", "-Wno-unused-parameter"]
    link = ["-fopenmp"]
    macros: list[tuple[str, str | None]] = []
    if use_cuda:
        macros.append(("WITH_CUDA", None))
        nvcc = [*opt, "-lineinfo"]
        ext = CUDAExtension(
            "falsr_ext._C",
            _rel(cpp + cuda),
            include_dirs=[CSRC],
            define_macros=macros,
            extra_compile_args={"cxx": cxx, "nvcc": nvcc},
            extra_link_args=link,
        )
    else:
        ext = CppExtension(
            "falsr_ext._C",
            _rel(cpp),
            include_dirs=[CSRC],
            define_macros=macros,
            extra_compile_args={"cxx": cxx},
            extra_link_args=link,
        )
    return [ext]


setup(
    packages=find_packages(include=["falsr_ext", "falsr_ext.*"]),
    ext_modules=get_extensions(),
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    zip_safe=False,
)
