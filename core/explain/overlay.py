"""Heat-map overlays drawn on the ORIGINAL image at its original size (not the network input).

Why: clinicians compare the overlay with the image they know; a 224-pixel square of the network input hides
the fan geometry and the calipers they expect to see.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.errors import InputError

COLORMAPS = {"jet": cv2.COLORMAP_JET, "turbo": cv2.COLORMAP_TURBO, "inferno": cv2.COLORMAP_INFERNO,
             "viridis": cv2.COLORMAP_VIRIDIS, "hot": cv2.COLORMAP_HOT}


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Gray or RGB, uint8 or float in [0, 1] -> RGB uint8."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(np.nan_to_num(img.astype(np.float32)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise InputError(f"image must be HxW or HxWx3, got shape {img.shape}")
    return np.ascontiguousarray(img[:, :, :3])


def resize_map(cam: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """A map in [0, 1] resized (bilinear) to ``(height, width)``."""
    h, w = size_hw
    return np.clip(cv2.resize(np.asarray(cam, np.float32), (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def heatmap_rgb(cam: np.ndarray, *, colormap: str = "jet") -> np.ndarray:
    """A [0, 1] map as an RGB uint8 colour image."""
    if colormap not in COLORMAPS:
        raise InputError(f"unknown colormap {colormap!r}; choose one of: {', '.join(COLORMAPS)}")
    gray = np.uint8(np.clip(cam, 0, 1) * 255)
    return cv2.cvtColor(cv2.applyColorMap(gray, COLORMAPS[colormap]), cv2.COLOR_BGR2RGB)


def overlay_cam(image: np.ndarray, cam: np.ndarray, *, alpha: float = 0.4, colormap: str = "jet") -> np.ndarray:
    """``image`` with ``cam`` blended on top at the image's own size; ``alpha`` is the heat-map opacity."""
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"overlay opacity must be in [0, 1], got {alpha}")
    rgb = to_rgb_uint8(image)
    heat = heatmap_rgb(resize_map(cam, rgb.shape[:2]), colormap=colormap)
    return cv2.addWeighted(heat, alpha, rgb, 1.0 - alpha, 0.0)


def triptych(image: np.ndarray, cam: np.ndarray, *, alpha: float = 0.4, colormap: str = "jet") -> np.ndarray:
    """Original | heat map | overlay side by side, as in the CNS paper's figures."""
    rgb = to_rgb_uint8(image)
    heat = heatmap_rgb(resize_map(cam, rgb.shape[:2]), colormap=colormap)
    return np.concatenate([rgb, heat, overlay_cam(rgb, cam, alpha=alpha, colormap=colormap)], axis=1)
