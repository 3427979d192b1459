"""Exceptions raised by falsr_ext.

Every error a user can cause (bad genotype, unreadable image, corrupt weights file,
missing data folder) derives from :class:`FalsrError`, so the command line can print it
as one line with no traceback while bugs still surface as tracebacks.
"""

from __future__ import annotations


class FalsrError(Exception):
    """Base class of every user-facing falsr_ext error."""


class GenotypeError(FalsrError, ValueError):
    """A genotype (string, JSON or object) is malformed or outside the search space."""


class ImageError(FalsrError, ValueError):
    """An image cannot be read, written or used (corrupt file, unsupported mode, size)."""


class DatasetError(FalsrError, ValueError):
    """A dataset folder is missing, empty or inconsistent (e.g. LR/HR sizes vs scale)."""


class ConvertError(FalsrError, ValueError):
    """An official model file (.pb) is corrupt, truncated or not a FALSR graph."""


class WeightsError(FalsrError, ValueError):
    """A weights file of ours is missing, corrupt or does not match its genotype."""


class ExtensionError(FalsrError, RuntimeError):
    """The compiled extension (or a requested device path of it) is unavailable."""
