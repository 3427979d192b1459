"""Training patches from folders of HR images.

Every image is loaded once: HR mod-cropped, LR made by our MATLAB-compatible bicubic
(the benchmark degradation) and cached on disk, both turned into float planes (analog
luma like FALSR, or RGB) on the network's input range (white = 1.0 for FALSR, 255.0 for
DLSR and TPSR, the ``input_range`` of the model card). A batch is a pure function of
``(seed, step)``: resuming at a step needs no sampler state, and the processes of a
distributed run take disjoint slices of the same global batch.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from falsr_ext.data.pairs import IMAGE_SUFFIXES, list_images
from falsr_ext.errors import DatasetError, FalsrError
from falsr_ext.files import atomic_path


@dataclass
class TrainImage:
    """One training image as float32 planes [C, h, w] (LR) and [C, s*h, s*w] (HR)."""

    path: Path
    lr: np.ndarray
    hr: np.ndarray


def image_folder(folder: str | os.PathLike[str]) -> Path:
    """The folder holding the images: ``DIR/HR`` when present, else ``DIR`` itself."""
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such data folder")
    return root / "HR" if (root / "HR").is_dir() else root


def cache_dir() -> Path:
    """Where LR images are cached (``$FALSR_CACHE_DIR`` or ``~/.cache/falsr_ext``)."""
    base = os.environ.get("FALSR_CACHE_DIR") or Path.home() / ".cache" / "falsr_ext"
    return Path(base) / "lr"


def _cached_lr(path: Path, hr: np.ndarray, scale: int) -> np.ndarray:
    from falsr_ext.data.bicubic import matlab_downscale

    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{scale}".encode())
    target = cache_dir() / f"{key.hexdigest()}.npy"
    if target.is_file():
        try:
            lr = np.load(target)
            if lr.shape == (hr.shape[0] // scale, hr.shape[1] // scale, 3):
                return lr
        except (OSError, ValueError):
            pass  # a damaged cache entry is rebuilt below
    lr = matlab_downscale(hr, scale)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            np.save(tmp, lr)
    except OSError:
        pass  # the cache only saves time; an unwritable one is not an error
    return lr


def _planes(rgb: np.ndarray, in_channels: int, value_range: float = 1.0) -> np.ndarray:
    if in_channels == 1:
        from falsr_ext.image_ops import rgb_to_luma

        rgb = np.ascontiguousarray(rgb)
        if not rgb.flags.writeable:  # np.load of a cache entry is read-only
            rgb = rgb.copy()
        luma = rgb_to_luma(torch.from_numpy(rgb)).numpy()[None]
        return luma if value_range == 1.0 else luma * np.float32(value_range)
    peak = 65535.0 if rgb.dtype == np.uint16 else 255.0
    if value_range == 1.0:
        planes = rgb.astype(np.float32) / peak
    else:  # 8-bit on 0..255: the integer values exactly (factor 1), as the releases trained
        planes = rgb.astype(np.float32) * np.float32(value_range / peak)
    return np.ascontiguousarray(planes.transpose(2, 0, 1))


def load_training_images(
    folders: list[str], scale: int, patch: int, in_channels: int = 1, progress: bool = False,
    value_range: float = 1.0,
) -> list[TrainImage]:
    """Load every usable image of ``folders`` (see the module docstring); ``value_range``
    is the value of white in the planes (the model card's ``input_range``).

    Unreadable images and images too small for one ``patch * scale`` HR patch are
    skipped with a single warning naming them; no usable image at all is an error.
    """
    from falsr_ext.data.image_io import modcrop, read_image, to_rgb

    files: list[Path] = []
    for folder in folders:
        found = list_images(image_folder(folder))
        if not found:
            raise DatasetError(f"{image_folder(folder)}: no images ({', '.join(IMAGE_SUFFIXES)})")
        files.extend(found)
    need = patch * scale
    images: list[TrainImage] = []
    skipped: list[str] = []
    it = files
    if progress:
        from tqdm import tqdm

        it = tqdm(files, desc="loading images", unit="img", disable=None, leave=False)
    for path in it:
        try:
            rgb = to_rgb(read_image(path))
        except FalsrError as exc:
            skipped.append(f"{path.name} ({exc})")
            continue
        if rgb.shape[0] < need or rgb.shape[1] < need:
            skipped.append(f"{path.name} ({rgb.shape[1]}x{rgb.shape[0]} is smaller than one "
                           f"{need}x{need} HR patch)")
            continue
        hr = modcrop(rgb, scale)
        lr = _cached_lr(path, hr, scale)
        images.append(TrainImage(path, _planes(lr, in_channels, value_range),
                                  _planes(hr, in_channels, value_range)))
    if skipped:
        warnings.warn(f"skipped {len(skipped)} of {len(files)} training images: "
                      + "; ".join(skipped), stacklevel=2)
    if not images:
        raise DatasetError(f"no usable training images in {', '.join(folders)}")
    return images


def _augment(plane: np.ndarray, code: int) -> np.ndarray:
    out = np.rot90(plane, k=code % 4, axes=(1, 2))
    return out[:, :, ::-1] if code >= 4 else out


def sample_batch(
    images: list[TrainImage], seed: int, step: int, batch: int, patch: int, scale: int,
    rank: int = 0, world: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``rank``-th of ``world`` slices of global batch ``step`` for ``seed``.

    Each sample: a uniformly chosen image, a uniform LR patch position (the HR patch is
    aligned with it), one of the 8 flips / 90-degree rotations. Returns (LR, HR) float32
    tensors ``[batch / world, C, patch, patch]`` and ``[..., patch*scale, patch*scale]``.
    """
    if batch % world:
        raise DatasetError(f"the batch ({batch}) must divide evenly over {world} processes")
    rng = np.random.default_rng([seed, step])
    which = rng.integers(len(images), size=batch)
    ys, xs, codes = rng.random(batch), rng.random(batch), rng.integers(8, size=batch)
    lrs, hrs = [], []
    hp = patch * scale
    for i in range(rank, batch, world):
        img = images[which[i]]
        h, w = img.lr.shape[1:]
        y = int(ys[i] * (h - patch + 1))
        x = int(xs[i] * (w - patch + 1))
        lr = img.lr[:, y:y + patch, x:x + patch]
        hr = img.hr[:, y * scale:y * scale + hp, x * scale:x * scale + hp]
        lrs.append(_augment(lr, int(codes[i])))
        hrs.append(_augment(hr, int(codes[i])))
    return torch.from_numpy(np.stack(lrs)), torch.from_numpy(np.stack(hrs))
