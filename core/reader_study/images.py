"""Images as a reader sees them: decoded once, with the burned-in banner masked (also on the AI overlay).

Why masking: scanners print the exam type in the top banner, and "...ABDOMEN" on a view-classification case
is the answer. ``core.preprocess.fan.banner_rows`` finds the banner rows (text outside the fan); the Grad-CAM
overlay of the first image gets the same rows masked, scaled to its height.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.io import load_image
from core.preprocess.fan import banner_rows, mask_banner


def _mask_banner(image):
    """The image with its burned-in text banner (top rows with text outside the fan) set to black."""
    try:
        rows = banner_rows(image)
    except Exception:  # noqa: BLE001 - an image the detector cannot read is shown as it is (still blinded)
        return image
    return mask_banner(image, rows) if rows else image


def _load_raw(paths: list) -> tuple:
    return tuple(load_image(p, frame_step=10 ** 9).image for p in paths)


def _load_images(paths: list) -> tuple:
    return tuple(_mask_banner(im) for im in _load_raw(paths))


def _banner_fraction(image) -> float:
    try:
        return banner_rows(image) / max(image.shape[0], 1)
    except Exception:  # noqa: BLE001 - see _mask_banner
        return 0.0


def _mask_like(overlay, source):
    """``overlay`` with the rows that hold ``source``'s banner (scaled to the overlay's height) blacked out."""
    rows = int(np.ceil(_banner_fraction(source) * overlay.shape[0]))
    if rows <= 0:
        return overlay
    out = np.array(overlay, copy=True)
    out[:rows] = 0
    return out


def _decode_png(data: bytes | None):
    if not data:
        return None
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    return None if bgr is None else bgr[..., ::-1].copy()


