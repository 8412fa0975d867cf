"""Coloured overlays (caliper crosses, measurement lines, colour text) found by colour and removed by inpainting.

Why by colour: B-mode ultrasound is gray (R = G = B), while machines draw calipers and annotations in yellow,
green, cyan and so on. A saturation threshold in HSV therefore finds them without any training, and
OpenCV's Telea inpainting (the preterm study's choice) fills them from the surrounding speckle so that a
network never learns "a yellow cross marks the cervix".
"""

from __future__ import annotations

import cv2
import numpy as np

from core.errors import InputError
from core.preprocess.normalize import to_uint8

# OpenCV hue is 0..179 (degrees / 2). Yellow is ~30, green ~60.
YELLOW_GREEN_HUES = ((15, 45), (45, 85))


def overlay_mask(image, *, min_saturation: int = 50, min_value: int = 40, hue_ranges=None,
                 dilate_px: int = 0) -> np.ndarray:
    """Boolean HxW mask of coloured (non-gray) pixels.

    Parameters
    ----------
    image : HxWx3 uint8 RGB (a gray HxW image has no colour and gives an empty mask).
    min_saturation, min_value : HSV thresholds on the 0..255 scale; gray pixels have saturation ~0.
    hue_ranges : ``None`` for any hue, else ``((lo, hi), ...)`` on OpenCV's 0..179 hue scale, e.g.
        :data:`YELLOW_GREEN_HUES` for the preterm study's calipers only.
    dilate_px : grow the mask (for blurred or JPEG-smeared strokes). Off by default: every extra pixel
        inpainted loses real speckle, and sharp strokes are caught whole by the saturation threshold.

    >>> img = np.zeros((5, 5, 3), np.uint8); img[2, 2] = (255, 255, 0)
    >>> int(overlay_mask(img, dilate_px=0).sum())
    1
    """
    rgb = to_uint8(image)
    if rgb.ndim == 2:
        return np.zeros(rgb.shape, dtype=bool)
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)
    hue, sat, val = hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2]
    mask = (sat >= min_saturation) & (val >= min_value)
    if hue_ranges is not None:
        in_range = np.zeros_like(mask)
        for lo, hi in hue_ranges:
            if not 0 <= lo <= hi <= 180:
                raise InputError(f"overlay_mask: hue range ({lo}, {hi}) outside 0..180")
            in_range |= (hue >= lo) & (hue <= hi)
        mask &= in_range
    if dilate_px > 0 and mask.any():
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
        mask = cv2.dilate(mask.astype(np.uint8), kernel) > 0
    return mask


def inpaint(image, mask: np.ndarray, *, radius: float = 3.0) -> np.ndarray:
    """Fill ``mask`` pixels of ``image`` with OpenCV's Telea method (cv2.INPAINT_TELEA); returns uint8."""
    img = to_uint8(image)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != img.shape[:2]:
        raise InputError(f"inpaint: mask shape {mask.shape} differs from image shape {img.shape[:2]}")
    if not mask.any():
        return img.copy()
    return cv2.inpaint(np.ascontiguousarray(img), mask.astype(np.uint8) * 255, float(radius), cv2.INPAINT_TELEA)


def remove_overlays(image, *, radius: float = 3.0, **mask_options) -> tuple[np.ndarray, np.ndarray]:
    """Detect coloured overlays and inpaint them. Returns ``(clean uint8 image, overlay mask)``.

    The cleaned image keeps the input's layout (gray stays gray, RGB stays RGB).
    """
    mask = overlay_mask(image, **mask_options)
    return inpaint(image, mask, radius=radius), mask
