"""A clinician's corrections of one analysed image: an edited contour -> a mask, and calipers in mm.

Why in core: the Analyze page, the Cases export and a script must turn the same vertices into the same mask
and the same caliper endpoints into the same millimetres. The contour is edited as polygon vertices
(image pixels, x right, y down): :func:`mask_vertices` gives the vertices of an existing mask to start
from, :func:`polygon_mask` the filled mask of edited vertices. Calipers are plain dicts, validated by
:func:`check_caliper` and measured by :func:`measure_caliper`:

- ``{"kind": "distance", "x0", "y0", "x1", "y1"}`` -> ``{"length_mm", "length_px"}``;
- ``{"kind": "ellipse", "cx", "cy", "a", "b", "angle_deg"}`` (semi-axes in pixels, angle of ``a`` from the
  x axis) -> ``{"major_mm", "minor_mm", "circumference_mm", "area_mm2"}``; the circumference is
  Ramanujan's second approximation, computed in mm space so anisotropic pixels are handled.

Without a pixel spacing every mm value is None (a measurement is never guessed). No Streamlit here.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from core.errors import InputError

CALIPER_KINDS = ("distance", "ellipse")
MAX_VERTICES = 2000
_FIELDS = {"distance": ("x0", "y0", "x1", "y1"), "ellipse": ("cx", "cy", "a", "b", "angle_deg")}


def spacing_xy(spacing_mm) -> tuple[float, float] | None:
    """mm per pixel as (sx, sy) from None, one number or a (sy, sx) pair (the biometry convention)."""
    if spacing_mm is None:
        return None
    values = list(spacing_mm) if isinstance(spacing_mm, (list, tuple, np.ndarray)) else [spacing_mm] * 2
    if len(values) != 2:
        raise InputError(f"pixel spacing must be one number or (row, column) mm, got {spacing_mm!r}")
    try:
        sy, sx = float(values[0]), float(values[1])
    except (TypeError, ValueError):
        raise InputError(f"pixel spacing must be numbers of mm per pixel, got {spacing_mm!r}") from None
    if not (math.isfinite(sx) and math.isfinite(sy) and sx > 0 and sy > 0):
        raise InputError(f"pixel spacing must be positive mm per pixel, got {spacing_mm!r}")
    return sx, sy


def mask_vertices(mask, *, max_vertices: int = 24) -> list[tuple[float, float]]:
    """Vertices (x, y) of the largest outer contour of ``mask``, simplified to at most ``max_vertices`` points.

    The Douglas-Peucker tolerance is raised until the polygon is small enough to edit by hand; an empty
    mask gives ``[]``.
    """
    m = np.asarray(mask).astype(np.uint8)
    if m.ndim != 2:
        raise InputError(f"mask: expected a 2-D array, got shape {m.shape}")
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return []
    contour = max(contours, key=cv2.contourArea)
    eps = 0.5
    poly = cv2.approxPolyDP(contour, eps, True)
    while len(poly) > max(3, max_vertices):
        eps *= 1.4
        poly = cv2.approxPolyDP(contour, eps, True)
    return [(float(p[0][0]), float(p[0][1])) for p in poly]


def polygon_mask(vertices, shape) -> np.ndarray:
    """Filled polygon of ``vertices`` [(x, y), ...] as a bool mask of ``shape`` (H, W); checked first."""
    h, w = int(shape[0]), int(shape[1])
    pts = check_vertices(vertices, (h, w))
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [np.round(pts).astype(np.int32).reshape(-1, 1, 2)], 1)
    return canvas.astype(bool)


def check_vertices(vertices, shape) -> np.ndarray:
    """Vertices as a float (N, 2) array; at least 3, finite, inside the image (clear one-line errors)."""
    try:
        pts = np.asarray([[float(v[0]), float(v[1])] for v in vertices], dtype=np.float64)
    except (TypeError, ValueError, IndexError):
        raise InputError("contour: every vertex needs a numeric x and y") from None
    if len(pts) < 3:
        raise InputError(f"contour: needs at least 3 vertices, got {len(pts)}")
    if len(pts) > MAX_VERTICES:
        raise InputError(f"contour: {len(pts)} vertices, limit {MAX_VERTICES}")
    if not np.isfinite(pts).all():
        raise InputError("contour: a vertex is not a finite number")
    h, w = int(shape[0]), int(shape[1])
    outside = np.where((pts[:, 0] < 0) | (pts[:, 0] > w - 1) | (pts[:, 1] < 0) | (pts[:, 1] > h - 1))[0]
    if outside.size:
        x, y = pts[outside[0]]
        raise InputError(f"contour: vertex {int(outside[0]) + 1} ({x:g}, {y:g}) lies outside the {w}x{h} image")
    return pts


def check_caliper(caliper: dict, shape=None) -> dict:
    """A clean copy of one caliper (kind + numeric fields); raises InputError naming the bad field."""
    if not isinstance(caliper, dict):
        raise InputError(f"caliper: expected a mapping, got {type(caliper).__name__}")
    kind = caliper.get("kind")
    if kind not in CALIPER_KINDS:
        raise InputError(f"caliper: kind {kind!r} is not one of {', '.join(CALIPER_KINDS)}")
    out = {"kind": kind}
    for key in _FIELDS[kind]:
        try:
            value = float(caliper.get(key))
        except (TypeError, ValueError):
            raise InputError(f"{kind} caliper: {key} {caliper.get(key)!r} is not a number") from None
        if not math.isfinite(value):
            raise InputError(f"{kind} caliper: {key} is not finite")
        out[key] = value
    if kind == "ellipse" and not (out["a"] > 0 and out["b"] > 0):
        raise InputError("ellipse caliper: both semi-axes must be positive")
    if kind == "distance" and (out["x0"], out["y0"]) == (out["x1"], out["y1"]):
        raise InputError("distance caliper: the two end points are the same point")
    if shape is not None:
        h, w = int(shape[0]), int(shape[1])
        points = [("x0", "y0"), ("x1", "y1")] if kind == "distance" else [("cx", "cy")]
        for kx, ky in points:
            if not (0 <= out[kx] <= w - 1 and 0 <= out[ky] <= h - 1):
                raise InputError(f"{kind} caliper: point ({out[kx]:g}, {out[ky]:g}) lies outside the {w}x{h} image")
    label = caliper.get("label")
    if label not in (None, ""):
        out["label"] = str(label)[:60]
    return out


def _ramanujan(a: float, b: float) -> float:
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


def measure_caliper(caliper: dict, spacing_mm=None) -> dict:
    """The caliper with its measurements added (mm values None without a pixel spacing).

    >>> measure_caliper({"kind": "distance", "x0": 0, "y0": 0, "x1": 30, "y1": 40}, 0.5)["length_mm"]
    25.0
    """
    c = check_caliper(caliper)
    s = spacing_xy(spacing_mm)
    if c["kind"] == "distance":
        dx, dy = c["x1"] - c["x0"], c["y1"] - c["y0"]
        c["length_px"] = math.hypot(dx, dy)
        c["length_mm"] = math.hypot(dx * s[0], dy * s[1]) if s else None
        return c
    t = math.radians(c["angle_deg"])
    c["circumference_px"] = _ramanujan(c["a"], c["b"])
    if s is None:
        c.update(major_mm=None, minor_mm=None, circumference_mm=None, area_mm2=None)
        return c
    # Semi-axis vectors in mm; an anisotropic grid turns the ellipse into another ellipse whose semi-axes are
    # the singular values of the mapped axis matrix.
    axes = np.array([[c["a"] * math.cos(t) * s[0], -c["b"] * math.sin(t) * s[0]],
                     [c["a"] * math.sin(t) * s[1], c["b"] * math.cos(t) * s[1]]])
    big, small = np.linalg.svd(axes, compute_uv=False)
    c["major_mm"], c["minor_mm"] = 2.0 * float(big), 2.0 * float(small)
    c["circumference_mm"] = _ramanujan(float(big), float(small))
    c["area_mm2"] = math.pi * float(big) * float(small)
    return c


def draw_corrections(rgb: np.ndarray, *, mask=None, vertices=None, calipers=(), ai_mask=None) -> np.ndarray:
    """The image with the AI contour (thin, orange), the corrected contour (green), its vertices and the
    calipers (cyan, numbered) drawn on a copy; what the clinician checks before saving."""
    out = np.ascontiguousarray(rgb.copy())
    thick = max(1, round(max(out.shape[:2]) / 300))
    if ai_mask is not None and np.asarray(ai_mask).any():
        contours, _ = cv2.findContours(np.asarray(ai_mask).astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (255, 140, 0), thick, cv2.LINE_AA)
    if mask is not None and np.asarray(mask).any():
        contours, _ = cv2.findContours(np.asarray(mask).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (0, 220, 0), thick + 1, cv2.LINE_AA)
    for i, (x, y) in enumerate(vertices or ()):
        cv2.circle(out, (int(round(x)), int(round(y))), thick + 2, (0, 220, 0), -1, cv2.LINE_AA)
        if len(vertices) <= 40:
            cv2.putText(out, str(i + 1), (int(round(x)) + 4, int(round(y)) - 4), cv2.FONT_HERSHEY_SIMPLEX,
                        0.3 + 0.1 * thick, (255, 255, 255), 1, cv2.LINE_AA)
    for i, c in enumerate(calipers or ()):
        c = check_caliper(c)
        color = (0, 230, 255)
        if c["kind"] == "distance":
            p0, p1 = (int(round(c["x0"])), int(round(c["y0"]))), (int(round(c["x1"])), int(round(c["y1"])))
            cv2.line(out, p0, p1, color, thick, cv2.LINE_AA)
            for p in (p0, p1):
                cv2.drawMarker(out, p, color, cv2.MARKER_CROSS, 6 + 2 * thick, thick)
            anchor = p1
        else:
            centre = (int(round(c["cx"])), int(round(c["cy"])))
            cv2.ellipse(out, centre, (max(1, int(round(c["a"]))), max(1, int(round(c["b"])))), c["angle_deg"],
                        0, 360, color, thick, cv2.LINE_AA)
            anchor = (centre[0] + int(round(c["a"])), centre[1])
        cv2.putText(out, f"C{i + 1}", (anchor[0] + 4, anchor[1] + 4), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35 + 0.1 * thick, color, 1, cv2.LINE_AA)
    return out
