"""Benchmark folders: HR images paired with their LR counterparts.

Layout (the SelfExSR / RCAN convention): ``DIR/HR/<name>.png`` and, optionally,
``DIR/LR_bicubic/X<s>/<name>x<s>.png``. Without the LR folder the LR image is made by our
MATLAB-compatible bicubic (:func:`falsr_ext.data.bicubic.matlab_downscale`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from falsr_ext.errors import DatasetError

# The SSIM window (11x11): a scored image needs this much left after the border crop.
SSIM_WINDOW = 11
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclass
class ImagePair:
    """One benchmark image: name, HR (mod-cropped) and LR, both uint8 RGB HxWx3."""

    name: str
    hr: np.ndarray
    lr: np.ndarray
    hr_path: Path
    lr_path: Path | None


def list_images(folder: Path) -> list[Path]:
    """Image files in ``folder`` (sorted by name), not recursive."""
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                  and p.is_file())


class PairedFolder:
    """Iterate over the (HR, LR) pairs of a benchmark folder at one scale."""

    def __init__(self, root: str | Path, scale: int) -> None:
        from falsr_ext.files import path_kind

        self.root = Path(root)
        self.scale = scale
        if path_kind(self.root) != "dir":
            raise DatasetError(f"{self.root}: no such data folder")
        self.hr_dir = self.root / "HR"
        if not self.hr_dir.is_dir():
            raise DatasetError(f"{self.root}: expected an HR/ folder of images inside it")
        self.hr_files = list_images(self.hr_dir)
        if not self.hr_files:
            raise DatasetError(f"{self.hr_dir}: no images ({', '.join(IMAGE_SUFFIXES)})")
        lr_dir = self.root / "LR_bicubic" / f"X{scale}"
        self.lr_dir: Path | None = lr_dir if lr_dir.is_dir() else None

    @property
    def name(self) -> str:
        """Dataset name (the folder's name, e.g. ``Set5``)."""
        return self.root.resolve().name

    def __len__(self) -> int:
        return len(self.hr_files)

    def lr_path(self, hr_path: Path) -> Path | None:
        """The shipped LR file of an HR image, or None when LR is made on the fly."""
        if self.lr_dir is None:
            return None
        path = self.lr_dir / f"{hr_path.stem}x{self.scale}{hr_path.suffix}"
        if not path.is_file():
            raise DatasetError(f"{path}: LR image missing for {hr_path.name}")
        return path

    def __iter__(self) -> Iterator[ImagePair]:
        for hr_path in self.hr_files:
            yield self.load(hr_path)

    def load(self, hr_path: Path) -> ImagePair:
        """Read one pair, check sizes against the scale, return uint8 RGB arrays."""
        from falsr_ext.data.bicubic import matlab_downscale
        from falsr_ext.data.image_io import modcrop, read_image, to_rgb

        s = self.scale
        hr = _rgb8(to_rgb(read_image(hr_path)), hr_path)
        hr = modcrop(hr, s) if min(hr.shape[:2]) >= s else hr
        h, w = hr.shape[:2]
        smallest = 2 * s + SSIM_WINDOW  # the border crop, then one SSIM window
        if h < smallest or w < smallest:
            raise DatasetError(
                f"{hr_path}: image {w}x{h} is too small to score at x{s}: the protocol crops "
                f"{s} px per border and SSIM needs {SSIM_WINDOW}x{SSIM_WINDOW} px after that "
                f"(at least {smallest}x{smallest} after cropping to a multiple of {s})")
        lr_path = self.lr_path(hr_path)
        if lr_path is None:
            lr = matlab_downscale(hr, s)
        else:
            lr = _rgb8(to_rgb(read_image(lr_path)), lr_path)
            if lr.shape[0] * s != hr.shape[0] or lr.shape[1] * s != hr.shape[1]:
                raise DatasetError(
                    f"{lr_path}: LR is {lr.shape[1]}x{lr.shape[0]} but HR {hr_path.name} "
                    f"(cropped to {hr.shape[1]}x{hr.shape[0]}) needs "
                    f"{hr.shape[1] // s}x{hr.shape[0] // s} at scale {s}"
                )
        return ImagePair(hr_path.stem, hr, lr, hr_path, lr_path)


def _rgb8(img: np.ndarray, path: Path) -> np.ndarray:
    if img.dtype != np.uint8:
        raise DatasetError(
            f"{path}: {img.dtype} image; the evaluation protocol is defined on 8-bit images"
        )
    return img
