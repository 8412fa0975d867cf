"""The input gate: images, DICOM and cine clips in; uint8 RGB frames, pixel spacing and safe metadata out.

Public API::

    load_image(source, *, name=None, limits=None, frame_step=80) -> LoadedImage
    probe(path, *, limits=None) -> dict(kind, width, height, frames, pixel_spacing_mm)
    GateLimits(max_file_bytes=50 MB, max_pixels=40e6, ...)
    deidentify_dataset / deidentify_file / deidentify_tree / deidentify_bytes, DeidConfig
    spacing_at(dataset_or_regions, x, y) -> (sy_mm, sx_mm) | None, caliper_mm, spacing_for_mask
"""

from core.io.banner import BannerRule, load_rules as load_banner_rules
from core.io.calibration import caliper_mm, spacing_at, spacing_for_mask
from core.io.deid import DeidConfig, deidentify_dataset
from core.io.deid_files import deidentify_bytes, deidentify_file, deidentify_tree
from core.io.errors import (CorruptFileError, DeidentificationError, EmptyFileError, FileTooLargeError, GateError,
                            MissingFileError, NoFramesError, NoPixelDataError, TooManyPixelsError,
                            UnsupportedFormatError)
from core.io.gate import LoadedImage, load_image, probe
from core.io.limits import GateLimits

__all__ = [
    "load_image", "probe", "LoadedImage", "GateLimits", "spacing_at", "caliper_mm", "spacing_for_mask",
    "DeidConfig", "BannerRule", "load_banner_rules",
    "deidentify_dataset", "deidentify_bytes", "deidentify_file", "deidentify_tree",
    "GateError", "MissingFileError", "EmptyFileError", "FileTooLargeError", "TooManyPixelsError",
    "UnsupportedFormatError", "CorruptFileError", "NoPixelDataError", "NoFramesError", "DeidentificationError",
]
