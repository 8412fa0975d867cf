"""Centre-line length of an elongated mask (the cervical length of a segmented cervix).

Why a centre line and not the fitted ellipse: the cervical length is measured along the endocervical canal,
internal os to external os, which bends; the ellipse's major axis cuts the bend and its circumference is not
a length at all. The mask (a band drawn along the canal) is thinned to its skeleton (scikit-image), the
longest geodesic path through the skeleton is found by two shortest-path passes (exact on a tree, which a
thinned band is). The preterm annotation is a band of round ends drawn around the 4-point Bezier curve of
the canal (core.segmentation.bezier): thinning stops about half a band-width short of each rounded end,
which is where the curve itself ends, so the skeleton's length is the curve's length.
"""

from __future__ import annotations

import heapq
import math

import cv2
import numpy as np
from skimage.morphology import skeletonize

_STEPS = [(dy, dx, math.hypot(dy, dx)) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def _largest_component(mask: np.ndarray) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(mask, dtype=bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def _farthest(points: set, start) -> tuple:
    """Dijkstra over 8-connected skeleton pixels (steps of 1 or sqrt 2): the farthest pixel and its distance."""
    dist = {start: 0.0}
    heap = [(0.0, start)]
    while heap:
        d, (y, x) = heapq.heappop(heap)
        if d > dist[(y, x)]:
            continue
        for dy, dx, w in _STEPS:
            q = (y + dy, x + dx)
            if q in points and d + w < dist.get(q, math.inf):
                dist[q] = d + w
                heapq.heappush(heap, (d + w, q))
    end = max(dist, key=dist.get)
    return end, dist[end]


def centerline_length_px(mask) -> float | None:
    """Length in pixels of the mask's longest centre line; None for an empty mask.

    >>> m = np.zeros((40, 120), np.uint8); _ = cv2.line(m, (10, 20), (110, 20), 1, 9)   # round ends
    >>> abs(centerline_length_px(m) - 100) < 3
    True
    """
    region = _largest_component(np.asarray(mask) > 0)
    if not region.any():
        return None
    skeleton = skeletonize(region)
    ys, xs = np.nonzero(skeleton)
    if ys.size == 0:
        return None
    points = set(zip(ys.tolist(), xs.tolist()))
    a, _ = _farthest(points, next(iter(points)))
    _, length = _farthest(points, a)
    return float(length)


def centerline_length_mm(mask, spacing_mm: float | None) -> float | None:
    """:func:`centerline_length_px` times the pixel spacing; None without a spacing or a structure."""
    px = centerline_length_px(mask)
    return None if px is None or spacing_mm is None else px * float(spacing_mm)
