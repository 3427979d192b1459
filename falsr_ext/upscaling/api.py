"""``upscale``: its options, the model it runs, and the loop over tiles.

The network runs through :func:`falsr_ext.pipeline.run_network`: the fused engine
(fp32 within 1e-5 of the module; ``dtype="bfloat16"`` runs its bf16 cells with fp32
accumulation). ``upscale`` is safe to call from several threads: each running call gets
buffers of its own, and results are bit-identical to single-threaded calls.
"""

from __future__ import annotations

import copy
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from falsr_ext.data.image_io import ImageNote
from falsr_ext.dtypes import resolve_network_dtype
from falsr_ext.errors import FalsrError, ImageError
from falsr_ext.models.falsr_net import FalsrNet
from falsr_ext.spaces.base import ModelCard
from falsr_ext.upscaling.colour import upscale_tile
from falsr_ext.upscaling.inputs import as_array
from falsr_ext.upscaling.tiling import default_tile, plan_tiles, tile_halo


def _parse_device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda' (or 'cuda:N'); got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FalsrError(
            f"upscale: device {str(device)!r} requested but no CUDA GPU is available "
            f"(torch {torch.__version__}"
            + (", a CPU-only build" if torch.version.cuda is None else "")
            + "); use device='cpu'"
        )
    if dev.type == "cuda":
        from falsr_ext.engine.cuda import require_cuda_engine

        # ExtensionError when falsr_ext._C lacks its CUDA kernels: never a silent CPU run.
        require_cuda_engine(dev)
    return dev


def _resolve_model(model: Any, scale: int | None, device: torch.device) -> nn.Module:
    if model is None:
        from falsr_ext.models.default import shared_default_model

        return _resolve_model(shared_default_model(), scale, device)
    if isinstance(model, (str, os.PathLike)):
        from falsr_ext.models.loading import load_model

        model = load_model(model)
    if not isinstance(model, FalsrNet) and not isinstance(getattr(model, "card", None),
                                                          ModelCard):
        raise TypeError(
            f"model must be a network of a search space (FalsrNet, DlsrNet, TpsrNet) or a "
            f"model path / zoo name, got {type(model).__name__}"
        )
    if scale is not None and scale != model.scale:
        raise FalsrError(f"upscale: the model upscales x{model.scale}, not x{scale}")
    param = next(model.parameters())
    if param.device != device:
        # Leave the caller's module where it is.
        model = copy.deepcopy(model).to(device)
    return model


# torch.set_num_threads is process-wide (it also sets the default later threads start
# with), so calls that change it run one at a time and restore it in order.
_THREADS_LOCK = threading.Lock()


@contextmanager
def _num_threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    if isinstance(threads, bool) or int(threads) != threads or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    if threads == torch.get_num_threads():
        yield
        return
    with _THREADS_LOCK:
        old = torch.get_num_threads()
        torch.set_num_threads(int(threads))
        try:
            yield
        finally:
            torch.set_num_threads(old)


def _upscale_array(arr: np.ndarray, net: nn.Module, tile: int, dtype: torch.dtype,
                   halo: int | None = None, progress: Any = None) -> np.ndarray:
    """Upscale a validated HxWxC array tile by tile; ``halo`` defaults to the radius."""
    h, w, c = arr.shape
    s = net.scale
    if halo is None:
        halo = tile_halo(net)
    tiles = plan_tiles(h, w, tile, halo)
    out = np.empty((h * s, w * s, c), dtype=arr.dtype)
    done = 0
    bar = None
    if progress is not False and not callable(progress) and len(tiles) > 1:
        from tqdm import tqdm

        bar = tqdm(total=len(tiles), desc=f"upscale {w}x{h} x{s}", unit="tile",
                   disable=None if progress is None else not progress, leave=False)
    try:
        for t in tiles:
            upscale_tile(arr, out, t, net, dtype)
            done += 1
            if bar is not None:
                bar.update(1)
            elif callable(progress):
                progress(done, len(tiles))
    finally:
        if bar is not None:
            bar.close()
    return out


def upscale(
    image: Any,
    model: Any = None,
    scale: int | None = None,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "auto",
    tile: int | None = None,
    threads: int | None = None,
    progress: bool | Callable[[int, int], Any] | None = None,
    layout: str | None = None,
) -> Any:
    """Super-resolve ``image`` by ``scale`` with a FALSR-space model; returns the same kind.

    Args:
        image: a PIL image (L, LA, RGB, RGBA, I;16*, F), a numpy array (HxW or HxWxC with
            C 1/2/3/4; uint8, uint16 or float in [0, 1]) or a torch tensor (CxHxW or HxW,
            uint8 or float in [0, 1]). The result has the same kind, mode / dtype / layout
            (and, for a tensor, device), ``scale`` times larger.
        model: a :class:`FalsrNet`, or anything :func:`falsr_ext.load_model` accepts (our
            ``.safetensors``, an official ``.pb``, a zoo name with ``$FALSR_WEIGHTS_DIR``).
            ``None``: the bundled default model (:mod:`falsr_ext.models.default`).
        scale: the model's scale (default); another value is an error.
        device: ``"cpu"`` or ``"cuda"``; never falls back silently.
        dtype: ``"auto"`` (default), ``"float32"`` or ``"bfloat16"`` (``"bf16"``: the
            fused engine's bf16 cells, fp32 accumulation; within 0.02 dB PSNR of float32).
            ``"auto"`` is bfloat16 for a FALSR network on a CPU with native bf16 (ISA level
            avx512_bf16 or amx under ``FALSR_CPU_ISA``), else float32
            (:mod:`falsr_ext.dtypes`). Explicit bfloat16 where it is emulated warns once
            (:class:`~falsr_ext.dtypes.PrecisionNote`).
        tile: LR tile size in px; ``None`` picks one bounding the working set (the whole
            image when small). Output is identical to untiled either way.
        threads: torch threads for this call (restored afterwards). The setting is
            process-wide, so concurrent calls that pass it run one at a time; a server
            should rather call ``torch.set_num_threads`` once at start-up.
        progress: ``None``: a tqdm bar over tiles on a terminal (several tiles only);
            ``True``/``False``: always / never; a callable gets ``(done, total)``.
        layout: numpy arrays only: ``"HWC"`` or ``"CHW"``. ``None`` reads HxWxC, refuses
            an array that is only valid as CxHxW (naming the fix) and one that fits both
            (e.g. 3x40x3), instead of guessing.

    Raises:
        ImageError: an unusable image (empty, bad shape / dtype, NaN, out of [0, 1]).
        FalsrError: no model, scale mismatch, CUDA requested without a GPU.
        ValueError: a bad ``scale``, ``dtype``, ``device``, ``tile``, ``threads`` or
            ``layout`` value.
    """
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, np.integer))
                              or scale < 1):
        raise ValueError(f"scale must be a positive integer, got {scale!r} "
                         f"({type(scale).__name__})")
    dev = _parse_device(device)
    if tile is not None and (int(tile) != tile or tile < 1):
        raise ValueError(f"tile must be a positive integer (LR px) or None, got {tile!r}")
    arr, restore = as_array(image, layout)
    net = _resolve_model(model, scale, dev)
    run_dtype = resolve_network_dtype(dtype, dev, net)  # "auto" depends on model and CPU
    h, w = arr.shape[:2]
    card = net.card
    if min(h, w) < card.min_size:
        raise ImageError(f"upscale: the image is {w}x{h} px; {card.name} needs at least "
                         f"{card.min_size}x{card.min_size} px")
    if tile is None:
        tile = default_tile(net, h, w)
    if card.tiling == "approximate" and tile < max(h, w):
        warnings.warn(ImageNote(
            f"{card.name}: tiles of {tile} px change the result slightly ({card.space} "
            f"networks pool over their whole input; on Set14 0.01-0.27 dB on the worst "
            f"image): the image is {w}x{h} px"), stacklevel=2)
    with _num_threads(threads):
        out = _upscale_array(arr, net, int(tile), run_dtype, progress=progress)
    return restore(out)
