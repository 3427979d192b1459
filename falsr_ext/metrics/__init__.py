"""Image-quality metrics: PSNR and SSIM under the standard SR protocols
(:mod:`~falsr_ext.metrics.psnr_ssim`), LPIPS (:mod:`~falsr_ext.metrics.lpips`)."""

from falsr_ext.metrics.psnr_ssim import psnr, ssim

__all__ = ["psnr", "ssim"]
