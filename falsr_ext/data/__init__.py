"""Image data: file I/O, colour conversions and the MATLAB-compatible bicubic."""

from __future__ import annotations

from falsr_ext.data.bicubic import imresize, matlab_downscale
from falsr_ext.data.colour import (
    falsr_compose_rgb,
    pil_bicubic_upscale,
    rgb_to_y_studio,
    rgb_to_ycbcr_studio,
    rgb_to_ypbpr,
    ycbcr_studio_to_rgb,
    ypbpr_to_rgb,
)
from falsr_ext.data.image_io import modcrop, read_image, to_rgb, write_image

__all__ = [
    "falsr_compose_rgb",
    "imresize",
    "matlab_downscale",
    "modcrop",
    "pil_bicubic_upscale",
    "read_image",
    "rgb_to_y_studio",
    "rgb_to_ycbcr_studio",
    "rgb_to_ypbpr",
    "to_rgb",
    "write_image",
    "ycbcr_studio_to_rgb",
    "ypbpr_to_rgb",
]
