"""Pixel conversions shared by the decoders: anything numeric -> uint8 RGB, NaN-free.

Why one place: every consumer downstream (models, Grad-CAM, the dashboard) expects ``uint8 (N, H, W, 3)``.
Doing the 16-bit / float / grey / palette conversions here once keeps the decoders small and makes the
output contract testable in one spot.
"""

from __future__ import annotations

import math

import numpy as np


def window_to_uint8(arr: np.ndarray, *, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Linearly map ``[low, high]`` (default: the finite min and max of ``arr``) onto 0..255.

    NaN and infinities become the low end, so the output never holds NaN; a constant image becomes 0.
    """
    data = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(data)
    if not finite.any():
        return np.zeros(data.shape, dtype=np.uint8)
    lo = float(data[finite].min()) if low is None else float(low)
    hi = float(data[finite].max()) if high is None else float(high)
    data = np.where(finite, data, lo)
    if not hi > lo:
        return np.zeros(data.shape, dtype=np.uint8)
    scaled = (data - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def scale_bits_to_uint8(arr: np.ndarray, bits: int) -> np.ndarray:
    """Integer samples of ``bits`` significant bits (e.g. 16-bit RGB) -> uint8 by their full range."""
    if arr.dtype == np.uint8 and bits <= 8:
        return arr if bits == 8 else window_to_uint8(arr, low=0, high=(1 << bits) - 1)
    return window_to_uint8(arr, low=0, high=(1 << bits) - 1)


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, 1|3|4) -> uint8 (N, H, W, 3), contiguous."""
    if frames.ndim == 3:
        frames = frames[..., None]
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    elif frames.shape[-1] == 4:
        frames = frames[..., :3]
    elif frames.shape[-1] != 3:
        raise ValueError(f"cannot make RGB from {frames.shape[-1]} samples per pixel")
    return np.ascontiguousarray(frames, dtype=np.uint8)


def fit_pixels(frames: np.ndarray, max_pixels: int) -> tuple[np.ndarray, tuple[float, float]]:
    """``frames`` (N, H, W, 3) uint8 downscaled (INTER_AREA) so that H x W <= ``max_pixels``; returns the
    frames and the (row, column) scale applied, (1.0, 1.0) when they already fit.

    Why in the gate: every consumer (fan search, level set, image statistics, overlays, models) works per
    pixel, so one bound here bounds them all, whatever size the file declares within the limits."""
    n, h, w = frames.shape[:3]
    if h * w <= max_pixels:
        return frames, (1.0, 1.0)
    import cv2

    f = math.sqrt(max_pixels / float(h * w))
    nw, nh = max(1, int(w * f)), max(1, int(h * f))
    out = np.empty((n, nh, nw) + frames.shape[3:], dtype=frames.dtype)
    for i in range(n):
        out[i] = cv2.resize(frames[i], (nw, nh), interpolation=cv2.INTER_AREA).reshape(out.shape[1:])
    return out, (nh / h, nw / w)


def scale_regions(regions: list[dict], scale: tuple[float, float]) -> list[dict]:
    """Calibration regions of the source image in the coordinates (and mm per pixel) of a scaled copy."""
    sy, sx = scale
    out = []
    for r in regions:
        out.append({"x0": int(math.floor(r["x0"] * sx)), "y0": int(math.floor(r["y0"] * sy)),
                    "x1": int(math.floor((r["x1"] + 1) * sx)) - 1, "y1": int(math.floor((r["y1"] + 1) * sy)) - 1,
                    "sx_mm": r["sx_mm"] / sx if r.get("sx_mm") else None,
                    "sy_mm": r["sy_mm"] / sy if r.get("sy_mm") else None})
    return out
