"""Preprocessing used by the studies: caliper/overlay inpainting, fan and banner handling, normalisation.

Why a package of its own: the same cleaning must run before the level set, before a network and on the
dashboard's analysis, so it lives below all of them.
"""

from core.preprocess.fan import banner_rows, bounding_box, check_box, crop, fan_mask, mask_banner
from core.preprocess.normalize import as_array, normalize_intensity, to_gray, to_uint8
from core.preprocess.overlays import YELLOW_GREEN_HUES, inpaint, overlay_mask, remove_overlays
from core.preprocess.pipeline import Preprocessed, preprocess

__all__ = [
    "YELLOW_GREEN_HUES", "Preprocessed", "as_array", "banner_rows", "bounding_box", "check_box", "crop",
    "fan_mask", "inpaint", "mask_banner", "normalize_intensity", "overlay_mask", "preprocess",
    "remove_overlays", "to_gray", "to_uint8",
]
