"""The ultrasound fan (the imaged sector) and the text banner above it.

Why: a scanner screen shows more than the image: a black frame, a text banner with the machine, probe and
date (sometimes the patient's name), depth rulers and logos. Algorithms should see only the fan: the level set
must not lock onto the black frame, a classifier must not learn the machine's font. The fan is the largest
bright connected region of the smoothed image; its convex hull (a sector or a rectangle is convex) also
covers dark structures, such as a gestational sac, that open onto its edge.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage
from skimage.morphology import convex_hull_image

from core.errors import InputError
from core.preprocess.normalize import as_array, to_gray, to_uint8

Box = tuple  # (x0, y0, x1, y1): pixel columns x0..x1-1 and rows y0..y1-1


def _largest_component(mask: np.ndarray) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(mask.shape, dtype=bool)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == best


#: longest side the fan is searched at; larger images are analysed on a downscaled copy (bounded work)
WORKING_SIZE = 512


def fan_mask(image, *, threshold: float = 0.06, smooth_fraction: float = 0.015, open_fraction: float = 0.03,
             convex: bool = True, min_area_fraction: float = 0.05, working_size: int = WORKING_SIZE) -> np.ndarray:
    """Boolean HxW mask of the ultrasound fan.

    Parameters
    ----------
    threshold : gray level (0..1) of the smoothed image above which a pixel is "imaged"; scanner frames are
        near black, tissue speckle is not.
    smooth_fraction : Gaussian sigma as a fraction of the shorter image side (averages the speckle).
    open_fraction : size of the morphological opening (fraction of the shorter side) that separates the fan
        from burned-in text and rulers.
    convex : return the convex hull of the region (fans and linear-probe rectangles are convex), so that dark
        structures touching the fan edge belong to it.
    min_area_fraction : below this share of the image the "fan" is not trusted and the whole image is used
        (an image that was already cropped to the fan, or an almost black frame).
    working_size : longest side of the copy the work is done on. Why: every step is per pixel, and a 40
        megapixel upload would otherwise cost minutes and gigabytes; the fan is a large smooth shape, so
        512 px locate it as well as the full image (sizes above are fractions of the side, so they scale).
    """
    arr = as_array(image)
    h, w = arr.shape[:2]
    scale = min(1.0, working_size / max(h, w))
    if scale < 1.0:  # downscale the uint8 pixels first: a float copy of the full image is what costs memory
        src = np.ascontiguousarray(arr if arr.dtype == np.uint8 else to_uint8(arr))
        small = cv2.resize(src, (max(2, round(w * scale)), max(2, round(h * scale))), interpolation=cv2.INTER_AREA)
        region = _fan_at(to_gray(small), threshold, smooth_fraction, open_fraction, convex, min_area_fraction)
        return cv2.resize(region.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    return _fan_at(to_gray(arr), threshold, smooth_fraction, open_fraction, convex, min_area_fraction)


def _fan_at(gray: np.ndarray, threshold: float, smooth_fraction: float, open_fraction: float, convex: bool,
            min_area_fraction: float) -> np.ndarray:
    h, w = gray.shape
    sigma = max(1.0, smooth_fraction * min(h, w))
    smooth = cv2.GaussianBlur(gray, (0, 0), sigma)
    # An opening cuts the thin bridges that smoothing builds between the fan and nearby text or ruler ticks.
    k = max(3, int(round(open_fraction * min(h, w))) | 1)
    bright = cv2.morphologyEx((smooth > threshold).astype(np.uint8), cv2.MORPH_OPEN,
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    region = _largest_component(bright)
    if region.sum() < min_area_fraction * h * w:
        return np.ones((h, w), dtype=bool)
    region = ndimage.binary_fill_holes(region)
    if convex:
        region = convex_hull_image(region)
    return region


def bounding_box(mask: np.ndarray, *, margin: int = 0) -> Box:
    """``(x0, y0, x1, y1)`` of the True pixels, grown by ``margin`` and clipped to the image."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise InputError("bounding_box: the mask is empty")
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (max(0, int(cols[0]) - margin), max(0, int(rows[0]) - margin),
            min(w, int(cols[-1]) + 1 + margin), min(h, int(rows[-1]) + 1 + margin))


def check_box(box, shape) -> Box:
    """Validate a user box ``(x0, y0, x1, y1)`` against an image of ``shape``; clip it to the image."""
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    except (TypeError, ValueError):
        raise InputError(f"box: expected four numbers x0,y0,x1,y1, got {box!r}") from None
    h, w = shape[:2]
    x0, x1 = max(0, x0), min(w, x1)
    y0, y1 = max(0, y0), min(h, y1)
    if x1 - x0 < 4 or y1 - y0 < 4:
        raise InputError(f"box {tuple(box)}: needs at least 4x4 pixels inside the {w}x{h} image")
    return (x0, y0, x1, y1)


def crop(image, box: Box) -> np.ndarray:
    """The pixels of ``image`` inside ``box`` (a view, not a copy)."""
    arr = as_array(image)
    x0, y0, x1, y1 = check_box(box, arr.shape)
    return arr[y0:y1, x0:x1]


def banner_rows(image, *, fan: np.ndarray | None = None, max_fraction: float = 0.15,
                text_level: float = 0.35) -> int:
    """Number of top rows that hold a text banner (0 when there is none).

    A banner row is one of the top ``max_fraction`` rows with bright pixels (text) that are not fan pixels;
    everything down to the last such row is banner.
    """
    arr = as_array(image)
    if fan is None:
        fan = fan_mask(arr)
    h = arr.shape[0]
    top = max(0, int(round(max_fraction * h)))
    text = (to_gray(arr[:top]) > text_level) & ~np.asarray(fan, dtype=bool)[:top]
    rows = np.flatnonzero(text.any(axis=1))
    return int(rows[-1]) + 1 if rows.size else 0


def mask_banner(image, rows: int) -> np.ndarray:
    """A copy of ``image`` with its top ``rows`` rows set to black."""
    arr = np.array(as_array(image), copy=True)
    arr[: max(0, int(rows))] = 0
    return arr
