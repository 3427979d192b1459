"""Loading of the compiled extension ``falsr_ext._C``.

Importing ``_C`` registers the ``torch.ops.falsr.*`` operators. Everything that needs
them goes through :func:`load_extension`, which turns a missing or broken build into
an :class:`~falsr_ext.errors.ExtensionError` that says how to build it.
"""

from __future__ import annotations

import functools
from types import ModuleType

import torch  # noqa: F401  (libtorch must be loaded before _C)

from falsr_ext.errors import ExtensionError

BUILD_HINT = (
    "build it from the repository root with:\n"
    "    python -m pip install --no-build-isolation .\n"
    "(or '-e .' for a development install; torch must be installed first, and the "
    "extension must be rebuilt after torch is upgraded)"
)


@functools.cache
def load_extension() -> ModuleType:
    """Import and return ``falsr_ext._C``, or raise :class:`ExtensionError`."""
    try:
        from falsr_ext import _C
    except ImportError as exc:
        raise ExtensionError(
            f"the compiled extension falsr_ext._C could not be loaded ({exc}); {BUILD_HINT}"
        ) from exc
    return _C


def extension_available() -> bool:
    """True when ``falsr_ext._C`` imports (the compiled ops are usable)."""
    try:
        load_extension()
    except ExtensionError:
        return False
    return True


def cuda_built() -> bool:
    """True when the extension was compiled with its CUDA kernels.

    Raises :class:`ExtensionError` when the extension is missing.
    """
    return bool(load_extension().cuda_built())


def cuda_usable() -> bool:
    """True when the CUDA kernels were built and a CUDA device is visible."""
    return extension_available() and cuda_built() and torch.cuda.is_available()


def cpu_capabilities() -> dict:
    """Instruction-set features of this CPU as seen by the extension (avx2, avx512f, ...)."""
    return dict(load_extension().cpu_capabilities())
