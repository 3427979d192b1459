"""Image-quality metrics: PSNR and SSIM under the standard SR protocols
(:mod:`~falsr_ext.metrics.psnr_ssim`), LPIPS (:mod:`~falsr_ext.metrics.lpips`)."""

from falsr_ext.metrics.lpips import LPIPS, get_lpips, lpips_distance
from falsr_ext.metrics.psnr_ssim import psnr, ssim

__all__ = ["LPIPS", "get_lpips", "lpips_distance", "psnr", "ssim"]
