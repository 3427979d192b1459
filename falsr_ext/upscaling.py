"""``upscale``: super-resolve an image of any common kind with a FALSR-space model.

Colour follows the FALSR pipeline (:mod:`falsr_ext.pipeline`): the network sees the
analog luma Y of ``rgb2ypbpr``; Pb/Pr come from a PIL bicubic upscale of the LR RGB.

* uint8 RGB(A): exactly the official protocol (JPEG-constant recomposition, clip, then
  *truncation*), so the result equals ``pipeline.upscale_rgb_falsr`` bit for bit.
* The luma, chroma upscale and recomposition run as the compiled ops of
  :mod:`falsr_ext.image_ops` (one fused pass per tile, no HR chroma planes), bit for bit
  the numpy / PIL code they replaced (float: to 1e-15).
* uint16 and float: computed in float (uint16 / 65535); chroma from PIL mode ``"F"``
  bicubic per channel (no 8-bit rounding; overshoot clipped after each pass, as 8-bit
  PIL saturates it), recomposed with the exact inverse Y'PbPr
  matrix, clipped to [0, 1]; uint16 is then rounded, float is returned as float (same
  dtype, no quantisation). Clipping keeps float output in the range the input had to be
  in (and makes it agree with the integer paths up to their quantisation).
* greyscale: the network runs on the grey plane itself (Y = grey), output rounded.
* alpha: PIL bicubic (8-bit, or mode ``"F"`` for uint16/float), never through the network.

Tiling is seamless: each LR tile runs with a halo of the network's receptive-field radius
(:func:`falsr_ext.receptive.receptive_radius`), clamped at the image border where the
zero padding is the untiled one, and only the tile's core is kept; chroma and alpha are
resized per tile with a 2 px halo (PIL's bicubic reach). Only the input, the output and
one tile's working set are ever in memory, whatever the image size.

The network runs through :func:`falsr_ext.pipeline.run_network`: the fused engine
(fp32 within 1e-5 of the module; ``dtype="bfloat16"`` runs its bf16 cells with fp32
accumulation). ``upscale`` is safe to call from several threads: each running call gets
buffers of its own, and results are bit-identical to single-threaded calls.
"""

from __future__ import annotations

import copy
import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from falsr_ext.data.colour import rgb_to_ypbpr
from falsr_ext.dtypes import parse_network_dtype
from falsr_ext.errors import FalsrError, ImageError
from falsr_ext.image_ops import compose_rgb, from_numpy, pil_bicubic_upscale, rgb_to_luma
from falsr_ext.models.falsr_net import HR_CHANNELS, FalsrNet
from falsr_ext.pipeline import run_network
from falsr_ext.receptive import receptive_radius
from falsr_ext.space import FEATURE_CHANNELS, IB_EXPANSION, Genotype
from falsr_ext.spaces.base import ModelCard

# PIL's bicubic upscaling reads LR pixels up to 2 away from an output pixel's centre.
CHROMA_HALO = 2
# Working-set budget of one tile (activations + per-tile HR temporaries), bytes.
TILE_BUDGET = 384 * 2**20
MIN_AUTO_TILE = 64
_PIL_MODES = ("L", "LA", "RGB", "RGBA", "I;16", "I;16L", "I;16B", "I;16N", "F")
_PIL_I16 = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2", "I;16N": "=u2"}


@dataclass(frozen=True)
class Tile:
    """One LR tile: its core ``[y0, y1) x [x0, x1)`` and the halo box the network reads."""

    y0: int
    y1: int
    x0: int
    x1: int
    hy0: int
    hy1: int
    hx0: int
    hx1: int

    def grown(self, halo: int, height: int, width: int) -> Tile:
        """The same core with another halo (clamped to the image)."""
        return Tile(self.y0, self.y1, self.x0, self.x1, max(0, self.y0 - halo),
                    min(height, self.y1 + halo), max(0, self.x0 - halo), min(width, self.x1 + halo))


def plan_tiles(height: int, width: int, tile: int, halo: int) -> list[Tile]:
    """Cores of at most ``tile`` x ``tile`` LR px covering the image once, row-major.

    Each core carries a halo of ``halo`` px on every side, clamped at the image border.
    """
    if height < 1 or width < 1:
        raise ImageError(f"cannot tile an image of {height}x{width}")
    if int(tile) != tile or tile < 1:
        raise ValueError(f"tile must be a positive integer (LR px), got {tile!r}")
    if int(halo) != halo or halo < 0:
        raise ValueError(f"halo must be a non-negative integer, got {halo!r}")
    tiles = []
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            core = Tile(y0, min(height, y0 + tile), x0, min(width, x0 + tile), 0, 0, 0, 0)
            tiles.append(core.grown(halo, height, width))
    return tiles


def tile_bytes_per_pixel(genotype: Genotype, scale: int, in_channels: int = 1) -> int:
    """Estimated peak working set of the plain module per LR pixel of a tile, in bytes.

    Every node output stays alive until the fusion (FalsrNet keeps the node list), plus
    the largest transient: a cell's concatenated input and its internal layers, the
    fusion concat and its outputs, or the HR end (shuffle, reconstruction). The per-tile
    float64 colour temporaries (about a dozen HR planes) are added.
    """
    nodes = sum(genotype.channels_of(n) for n in range(genotype.num_nodes))
    transient = 0
    for i, cell in enumerate(genotype.cells):
        concat = genotype.cell_in_channels(i) if len(cell.inputs) > 1 else 0
        if cell.block == "ib":
            inner = 3 * cell.filters + 2 * IB_EXPANSION * cell.filters
        else:
            inner = 3 * cell.filters
        transient = max(transient, concat + inner)
    fusion = genotype.fusion_in_channels + 3 * FEATURE_CHANNELS
    tail = 3 * HR_CHANNELS * scale * scale + in_channels * scale * scale
    floats = nodes + max(transient, fusion, tail) + in_channels
    # Convolutions may copy their input into a blocked layout: one more of the widest.
    floats += max(genotype.fusion_in_channels,
                  *(genotype.cell_in_channels(i) for i in range(len(genotype.cells))))
    return 4 * floats + 8 * 12 * scale * scale


def auto_tile(genotype: Genotype, scale: int, height: int, width: int,
              budget: int = TILE_BUDGET, in_channels: int = 1) -> int:
    """LR tile size keeping one tile's working set within ``budget`` bytes.

    The whole image (no halo overhead) when it fits, else the largest multiple of 16
    (at least ``MIN_AUTO_TILE``) whose haloed tile fits.
    """
    per_px = tile_bytes_per_pixel(genotype, scale, in_channels)
    if height * width * per_px <= budget:
        return max(height, width)
    halo = receptive_radius(genotype, scale)
    side = math.isqrt(budget // per_px) - 2 * halo
    return max(MIN_AUTO_TILE, side // 16 * 16)


# A tile side for networks of other spaces (no per-genotype memory model yet): their
# released networks hold a few dozen feature maps, so 512x512 LR px stays near 1 GiB.
OTHER_SPACE_TILE = 512


def _halo(net: nn.Module) -> int:
    """LR px of context a tile reads (at least the network's minimum input size)."""
    card = net.card
    if isinstance(net, FalsrNet):
        return receptive_radius(net.genotype, net.scale)
    return max(card.halo, card.min_size)


def _auto_tile(net: nn.Module, height: int, width: int) -> int:
    if isinstance(net, FalsrNet):
        return auto_tile(net.genotype, net.scale, height, width, in_channels=net.in_channels)
    return max(height, width) if max(height, width) <= OTHER_SPACE_TILE else OTHER_SPACE_TILE


# --- input kinds ------------------------------------------------------------------------


def _check_array(arr: np.ndarray, what: str) -> np.ndarray:
    """Validate an HxWxC array (C 1..4; uint8, uint16 or float in [0, 1])."""
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ImageError(
            f"upscale: {what} must be HxW or HxWxC with C in 1 (grey), 2 (grey+alpha), "
            f"3 (RGB) or 4 (RGBA); got shape {arr.shape}"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageError(f"upscale: {what} is empty ({arr.shape[0]}x{arr.shape[1]} px)")
    if arr.dtype in (np.uint8, np.uint16):
        return arr
    if arr.dtype.kind != "f":
        raise ImageError(
            f"upscale: {what} has dtype {arr.dtype}; need uint8, uint16 or float in [0, 1]"
        )
    if not np.isfinite(arr).all():
        raise ImageError(f"upscale: {what} has NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise ImageError(
            f"upscale: float {what} must be in [0, 1], got values in [{lo:g}, {hi:g}]"
            + (" (divide 0..255 data by 255)" if hi > 1.0 else "")
        )
    return arr


def _from_pil(img: Image.Image) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    mode = img.mode
    if mode not in _PIL_MODES:
        raise ImageError(
            f"upscale: unsupported PIL mode {mode!r} (supported: {', '.join(_PIL_MODES)}); "
            "convert it first, e.g. img.convert('RGB')"
        )
    arr = np.asarray(img)
    if mode in _PIL_I16:
        arr = arr.astype(np.uint16)
    arr = _check_array(arr[:, :, None] if arr.ndim == 2 else arr, f"PIL image ({mode})")
    raw_dtype = _PIL_I16.get(mode, "=f4" if mode == "F" else "u1")

    def restore(out: np.ndarray) -> Image.Image:
        data = np.ascontiguousarray(out.astype(raw_dtype)).tobytes()
        return Image.frombytes(mode, (out.shape[1], out.shape[0]), data)

    return arr, restore


def _from_numpy(arr: np.ndarray, layout: str | None
                ) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    if arr.ndim == 2:
        return _check_array(arr[:, :, None], "array"), lambda out: out[:, :, 0]
    if arr.ndim == 3 and layout is None:
        layout = _guess_layout(arr.shape)
    if arr.ndim == 3 and layout == "CHW":
        return (_check_array(arr.transpose(1, 2, 0), f"array of shape {arr.shape} (CxHxW)"),
                lambda out: np.ascontiguousarray(out.transpose(2, 0, 1)))
    return _check_array(arr, "array"), lambda out: out


_CHANNELS = (1, 2, 3, 4)


def _guess_layout(shape: tuple[int, ...]) -> str:
    """HWC, numpy's image layout, unless only CHW fits; an array that fits both (a
    3x40x3 array: 3x40 px RGB, or 40x3 px RGB?) must be told (``layout=``)."""
    hwc, chw = shape[2] in _CHANNELS, shape[0] in _CHANNELS
    if hwc and chw:
        raise ImageError(
            f"upscale: an array of shape {shape} is ambiguous: {shape[0]}x{shape[1]} px with "
            f"{shape[2]} channels (HxWxC) or {shape[1]}x{shape[2]} px with {shape[0]} "
            f"channels (CxHxW); say which with layout='HWC' or layout='CHW'")
    if chw:
        raise ImageError(
            f"upscale: numpy arrays are read as HxWxC with C in 1..4, got shape {shape}; "
            f"for a CxHxW array pass layout='CHW' (or arr.transpose(1, 2, 0))")
    return "HWC"


def _from_tensor(t: torch.Tensor) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    shape = list(t.shape)
    if t.dim() not in (2, 3):
        raise ImageError(f"upscale: a tensor must be CxHxW or HxW (no batch), got shape {shape}")
    if t.dtype != torch.uint8 and not t.dtype.is_floating_point:
        raise ImageError(f"upscale: tensor dtype {t.dtype}; need uint8 or float in [0, 1]")
    if t.device.type == "meta":
        raise ImageError(f"upscale: a tensor on the meta device (shape {shape}) has no pixels; "
                         f"pass one with data")
    if t.layout != torch.strided:
        raise ImageError(f"upscale: a {t.layout} tensor; pass a dense one (t.to_dense())")
    if t.dim() == 3 and t.shape[0] not in _CHANNELS:
        hint = (": it looks like HxWxC, pass t.permute(2, 0, 1)"
                if t.shape[2] in _CHANNELS else "")
        raise ImageError(f"upscale: a tensor must be CxHxW with C in 1 (grey), 2 (grey+alpha), "
                         f"3 (RGB) or 4 (RGBA), got shape {shape}{hint}")
    dtype, device, flat = t.dtype, t.device, t.dim() == 2
    x = t.detach().to("cpu")
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    arr = x.numpy()
    arr = arr[:, :, None] if flat else arr.transpose(1, 2, 0)
    arr = _check_array(arr, f"tensor of shape {shape} (CxHxW)")

    def restore(out: np.ndarray) -> torch.Tensor:
        res = torch.from_numpy(np.ascontiguousarray(out))
        res = res[:, :, 0] if flat else res.permute(2, 0, 1).contiguous()
        return res.to(device=device, dtype=dtype)

    return arr, restore


def _as_array(image: Any, layout: str | None = None
              ) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """HxWxC numpy view of ``image`` and the function turning the result back."""
    if layout is not None and (not isinstance(image, np.ndarray) or layout not in ("HWC", "CHW")):
        raise ValueError(f"layout is 'HWC' or 'CHW' and only for numpy arrays, got {layout!r} "
                         f"with a {type(image).__name__}")
    if isinstance(image, Image.Image):
        return _from_pil(image)
    if isinstance(image, torch.Tensor):
        return _from_tensor(image)
    if isinstance(image, np.ndarray):
        return _from_numpy(image, layout)
    raise ImageError(
        f"upscale: need a PIL image, a numpy array or a torch tensor, got {type(image).__name__}"
    )


# --- options --------------------------------------------------------------------------


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


# --- the work ---------------------------------------------------------------------------


def _unit(arr: np.ndarray) -> np.ndarray:
    """Integer or float image -> float64 in [0, 1] (as the pipeline computes it for uint8)."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float64) / 65535.0
    return arr.astype(np.float64)


def _from_unit(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """[0, 1] float -> ``dtype``: clipped; integers rounded to nearest."""
    if dtype == np.uint8:
        return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.clip(np.round(x * 65535.0), 0, 65535).astype(np.uint16)
    return np.clip(x, 0.0, 1.0).astype(dtype)


def _view(arr: np.ndarray) -> torch.Tensor:
    """A tensor sharing ``arr``'s memory (the image ops only read their inputs).

    Float dtypes the ops lack (float16, longdouble) go as float64: exact for float16,
    and the result is cast back to the image's dtype as before.
    """
    if arr.dtype.kind == "f" and arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return from_numpy(arr)


def _resized(arr: np.ndarray, box: Tile, core: Tile, scale: int, channels: slice) -> np.ndarray:
    """PIL bicubic of ``arr[box][..., channels]`` cropped to the core's HR region.

    uint8 stays uint8 (exactly the pipeline's resize); others become float32 in [0, 1]
    (PIL mode ``"F"``, clipped after each pass as 8-bit PIL saturates).
    """
    src = arr[box.hy0:box.hy1, box.hx0:box.hx1, channels]
    if arr.dtype != np.uint8:
        src = _unit(src).astype(np.float32)
    up = pil_bicubic_upscale(_view(src), scale, clip_unit=arr.dtype != np.uint8).numpy()
    oy, ox = (core.y0 - box.hy0) * scale, (core.x0 - box.hx0) * scale
    return up[oy:oy + (core.y1 - core.y0) * scale, ox:ox + (core.x1 - core.x0) * scale]


def _upscale_tile(arr: np.ndarray, out: np.ndarray, t: Tile, net: nn.Module,
                  dtype: torch.dtype) -> None:
    """Compute the HR region of tile ``t`` into ``out``."""
    s = net.scale
    h, w, c = arr.shape
    colour, alpha = c >= 3, c in (2, 4)
    lr = arr[t.hy0:t.hy1, t.hx0:t.hx1]
    oy, ox = (t.y0 - t.hy0) * s, (t.x0 - t.hx0) * s
    ch, cw = (t.y1 - t.y0) * s, (t.x1 - t.x0) * s
    region = out[t.y0 * s:t.y1 * s, t.x0 * s:t.x1 * s]
    chroma_box = t.grown(CHROMA_HALO, h, w)
    if net.in_channels == 3:
        if arr.dtype == np.uint8 and colour:  # the pipeline's float32 scaling
            rgb = lr[:, :, :3].astype(np.float32) / 255.0
        else:
            rgb = _unit(lr[:, :, :3]) if colour else np.repeat(_unit(lr[:, :, :1]), 3, axis=2)
        hr = run_network(net, rgb.transpose(2, 0, 1), dtype)[:, oy:oy + ch, ox:ox + cw]
        hr = hr.transpose(1, 2, 0)
        if colour:
            region[:, :, :3] = _from_unit(hr, arr.dtype)
        else:
            region[:, :, :1] = _from_unit(rgb_to_ypbpr(hr.astype(np.float64))[:, :, :1],
                                          arr.dtype)
    elif colour:
        y_hr = run_network(net, rgb_to_luma(_view(lr)).numpy(), dtype)[oy:oy + ch, ox:ox + cw]
        # Chroma upscale of the haloed box, recomposition and rounding in one pass.
        box = arr[chroma_box.hy0:chroma_box.hy1, chroma_box.hx0:chroma_box.hx1]
        region[:, :, :3] = compose_rgb(_view(y_hr), _view(box), s,
                                       (t.y0 - chroma_box.hy0) * s,
                                       (t.x0 - chroma_box.hx0) * s).numpy()
    else:
        y_hr = run_network(net, _unit(lr[:, :, 0]), dtype)[oy:oy + ch, ox:ox + cw]
        region[:, :, 0] = _from_unit(y_hr.astype(np.float64), arr.dtype)
    if alpha:
        up = _resized(arr, chroma_box, t, s, slice(c - 1, c))
        region[:, :, c - 1:] = up if arr.dtype == np.uint8 else _from_unit(up, arr.dtype)


def _upscale_array(arr: np.ndarray, net: nn.Module, tile: int, dtype: torch.dtype,
                   halo: int | None = None, progress: Any = None) -> np.ndarray:
    """Upscale a validated HxWxC array tile by tile; ``halo`` defaults to the radius."""
    h, w, c = arr.shape
    s = net.scale
    if halo is None:
        halo = _halo(net)
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
            _upscale_tile(arr, out, t, net, dtype)
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
    dtype: str | torch.dtype = "float32",
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
        dtype: ``"float32"`` or ``"bfloat16"`` (``"bf16"``): the fused engine's bf16 cells
            (fp32 accumulation; within 0.02 dB PSNR of float32).
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
    run_dtype = parse_network_dtype(dtype)
    dev = _parse_device(device)
    if tile is not None and (int(tile) != tile or tile < 1):
        raise ValueError(f"tile must be a positive integer (LR px) or None, got {tile!r}")
    arr, restore = _as_array(image, layout)
    net = _resolve_model(model, scale, dev)
    h, w = arr.shape[:2]
    card = net.card
    if min(h, w) < card.min_size:
        raise ImageError(f"upscale: the image is {w}x{h} px; {card.name} needs at least "
                         f"{card.min_size}x{card.min_size} px")
    if tile is None:
        tile = _auto_tile(net, h, w)
    with _num_threads(threads):
        out = _upscale_array(arr, net, int(tile), run_dtype, progress=progress)
    return restore(out)
