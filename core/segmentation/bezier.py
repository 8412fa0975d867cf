"""Cubic Bezier curves and the masks drawn from them (the preterm study's cervix annotations).

Why: in the preterm study an expert marks 4 control points along the cervical canal and the mask is the
cubic Bezier curve through them, thickened to the width of the cervix. The synthetic cervix phantoms and any
user-supplied control points go through the same two functions, so the training masks and the phantoms agree
pixel for pixel.

>>> bezier_curve([(0, 0), (0, 1), (1, 1), (1, 0)], 3).round(3).tolist()
[[0.0, 0.0], [0.5, 0.75], [1.0, 0.0]]
"""

from __future__ import annotations

import numpy as np

from core.errors import InputError


def _control_points(points) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (4, 2) or not np.all(np.isfinite(pts)):
        raise InputError(f"a cubic Bezier curve needs 4 finite (x, y) control points, got shape {pts.shape}")
    return pts


def bezier_curve(points, n: int = 100) -> np.ndarray:
    """``n`` points (x, y) on the cubic Bezier curve with control points ``points`` (4 x 2), t = 0..1.

    B(t) = (1-t)^3 P0 + 3(1-t)^2 t P1 + 3(1-t) t^2 P2 + t^3 P3; the first and last returned points are P0
    and P3 exactly (the curve passes through the end points, not through P1 and P2).
    """
    pts = _control_points(points)
    if int(n) < 2:
        raise InputError(f"a Bezier curve needs at least 2 samples, got n={n}")
    t = np.linspace(0.0, 1.0, int(n))[:, None]
    u = 1.0 - t
    return u**3 * pts[0] + 3 * u**2 * t * pts[1] + 3 * u * t**2 * pts[2] + t**3 * pts[3]


def bezier_mask(points, shape, thickness_px: float, *, n: int | None = None) -> np.ndarray:
    """Boolean mask of ``shape`` (H, W): every pixel within ``thickness_px / 2`` of the curve of ``points``.

    The curve is sampled densely enough (about one sample per pixel of control-polygon length) that the
    polyline is indistinguishable from the curve, drawn one pixel wide, and widened by an exact Euclidean
    distance transform -- so the band is ``thickness_px`` wide with round ends, a pure function of the
    control points (OpenCV's own thick lines come out one pixel wider than asked).
    """
    import cv2

    pts = _control_points(points)
    h, w = int(shape[0]), int(shape[1])
    if h <= 0 or w <= 0:
        raise InputError(f"mask shape must be positive, got {tuple(shape)}")
    if not thickness_px >= 1:
        raise InputError(f"mask thickness must be at least 1 pixel, got {thickness_px}")
    if n is None:
        length = float(np.sum(np.linalg.norm(np.diff(pts, axis=0), axis=1)))
        n = max(2, int(np.ceil(length)) + 1)
    pad = int(np.ceil(thickness_px / 2.0)) + 1  # a curve just outside the image still reaches into it
    curve = bezier_curve(pts, n) + pad
    canvas = np.full((h + 2 * pad, w + 2 * pad), 255, np.uint8)
    poly = np.round(curve).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [poly], isClosed=False, color=0, thickness=1, lineType=cv2.LINE_8)
    if canvas.min() > 0:  # the curve lies entirely outside the (padded) image
        return np.zeros((h, w), bool)
    dist = cv2.distanceTransform(canvas, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return dist[pad:pad + h, pad:pad + w] <= thickness_px / 2.0
