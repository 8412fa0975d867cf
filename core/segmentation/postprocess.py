"""Post-processing of a predicted mask for closed structures: largest component, hole filling, ellipse fit.

Why: a network's mask of a fetal head or a gestational sac is one closed, convex-ish region, but on real scans
it comes with stray blobs (a bright bowel loop, the placenta's edge) and holes (the dark ventricles inside the
skull). Biometry is taken from one ellipse, so a stray blob or a hole changes Dice and HD95 although the
structure was found. The step is chosen per task (``Protocol.postprocess`` in :mod:`core.tasks`, recorded in
a bundle's model.json as ``postprocess``), because an open structure (the cervix) must not be filled or
replaced by an ellipse.

Modes (each includes the ones before it):

- ``"none"``: the mask as predicted.
- ``"largest"``: keep the largest 8-connected component.
- ``"fill"``: largest component, holes filled (scipy.ndimage.binary_fill_holes).
- ``"ellipse"``: the filled largest component replaced by its fitted ellipse, drawn filled (heads, sacs:
  what HC18's annotations are).

>>> import numpy as np
>>> m = np.zeros((11, 11), bool); m[1:8, 1:8] = True; m[4, 4] = False; m[10, 10] = True
>>> int(postprocess(m, "fill").sum())
49
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from core.errors import InputError

MODES = ("none", "largest", "fill", "ellipse")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InputError(f"unknown postprocess {mode!r}; choose one of: {', '.join(MODES)}")
    return mode


def _mask(mask) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise InputError(f"mask: expected a 2-D array, got shape {m.shape}")
    return m > 0


def largest_component(mask) -> np.ndarray:
    """The largest 8-connected component as a bool mask (an empty mask stays empty)."""
    m = _mask(mask)
    labels, n = ndimage.label(m, structure=np.ones((3, 3), bool))
    if n <= 1:
        return m.copy()
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(sizes.argmax())


def fill_holes(mask) -> np.ndarray:
    """Background regions not connected to the image border become structure."""
    return ndimage.binary_fill_holes(_mask(mask))


def ellipse_mask(mask) -> np.ndarray:
    """The ellipse fitted (cv2.fitEllipse) to the mask's largest contour, drawn filled at the mask's size; the
    mask itself when the contour is too small to fit (fewer than 5 points).

    The fit runs through boundary pixel centres and the drawing fills pixel centres plus its outline, so the
    drawn region matches the fitted one without the one-pixel growth that biometry adds to measure edges.
    Sub-pixel drawing (``shift``) keeps the centre and axes exact.
    """
    import cv2

    from core.segmentation.biometry import largest_contour

    m = _mask(mask)
    contour = largest_contour(m)
    if contour is None or len(contour) < 5:
        return m.copy()
    (cx, cy), (d1, d2), angle = cv2.fitEllipse(contour.astype(np.float32))
    return draw_ellipse(m.shape, (cx, cy), (d1, d2), angle)


def draw_ellipse(shape, center_xy, axes, angle_deg: float) -> np.ndarray:
    """A filled ellipse (OpenCV's convention: full axis lengths, ``angle_deg`` the first axis's rotation) as a
    bool mask of ``shape``; drawn with 4 bits of sub-pixel precision so the centre and axes stay exact."""
    import cv2

    shift = 4
    scale = 1 << shift
    out = np.zeros(shape[:2], np.uint8)
    cv2.ellipse(out, (int(round(center_xy[0] * scale)), int(round(center_xy[1] * scale))),
                (max(int(round(axes[0] / 2 * scale)), 0), max(int(round(axes[1] / 2 * scale)), 0)), angle_deg,
                0, 360, 1, thickness=-1, lineType=cv2.LINE_8, shift=shift)
    return out > 0


def postprocess(mask, mode: str = "none") -> np.ndarray:
    """Apply ``mode`` (see the module docstring) to a 2-D mask; returns a bool array of the same shape."""
    check_mode(mode)
    m = _mask(mask)
    if mode == "none" or not m.any():
        return m.copy()
    m = largest_component(m)
    if mode in ("fill", "ellipse"):
        m = fill_holes(m)
    if mode == "ellipse":
        m = ellipse_mask(m)
    return m
