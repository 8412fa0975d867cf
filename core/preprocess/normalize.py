"""Intensity conversion and normalisation shared by the preprocessing and segmentation code.

Why: images arrive as uint8 RGB (the io gate), uint8 gray (masks, tests) or float arrays (callers that already
normalised). Every algorithm downstream wants one thing, a float32 gray image in [0, 1], so the conversion lives
here once instead of being re-guessed in each module.
"""

from __future__ import annotations

import numpy as np

from core.errors import InputError


def as_array(image) -> np.ndarray:
    """The pixel array of ``image`` (an ndarray or anything with an ``.image`` attribute, e.g. LoadedImage)."""
    arr = getattr(image, "image", image)
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise InputError(f"image: expected HxW or HxWx3 pixels, got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise InputError(f"image: too small ({arr.shape[1]}x{arr.shape[0]} pixels)")
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return arr


def to_uint8(image) -> np.ndarray:
    """uint8 pixels (gray or RGB); floats are taken as [0, 1] when their maximum is <= 1, else as [0, 255]."""
    arr = as_array(image)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    arr = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if arr.size and float(arr.max()) <= 1.0:
        arr = arr * 255.0
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def to_gray(image) -> np.ndarray:
    """float32 HxW in [0, 1]. RGB is averaged with the ITU-R 601 weights (ultrasound is gray anyway)."""
    arr = to_uint8(image)
    if arr.ndim == 3:
        arr = arr[:, :, 0] * 0.299 + arr[:, :, 1] * 0.587 + arr[:, :, 2] * 0.114
    return (arr.astype(np.float32) / 255.0).astype(np.float32)


def normalize_intensity(gray: np.ndarray, *, mask: np.ndarray | None = None, low: float = 1.0,
                        high: float = 99.0) -> np.ndarray:
    """Stretch the ``low``..``high`` percentiles (inside ``mask`` when given) to 0..1 and clip.

    Why percentiles: gain and dynamic range differ between machines; a robust stretch makes fixed thresholds
    (fan detection, level-set initialisation) work on every machine's images alike.
    """
    gray = np.asarray(gray, dtype=np.float32)
    if not 0.0 <= low < high <= 100.0:
        raise InputError(f"normalize_intensity: need 0 <= low < high <= 100, got low={low}, high={high}")
    values = gray[mask.astype(bool)] if mask is not None else gray.ravel()
    if values.size == 0:
        return np.zeros_like(gray)
    lo, hi = np.percentile(values, [low, high])
    if hi - lo < 1e-6:
        return np.clip(gray - lo, 0.0, 1.0).astype(np.float32)
    return np.clip((gray - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
