"""Biometry of a segmented structure: area, and an ellipse fit giving circumference, BPD, OFD, mean diameter.

Why an ellipse: clinical biometry measures heads and sacs as ellipses (head circumference in HC18, the mean
sac diameter of a gestational sac), which is robust to a ragged mask edge. The ellipse is cv2.fitEllipse on the
largest outer contour of the mask; circumference uses Ramanujan's approximation
``pi * (3(a+b) - sqrt((3a+b)(a+3b)))`` with semi-axes a, b; the 2-D mean diameter is the mean of the two axes;
for a head the minor axis is the biparietal (BPD) and the major axis the occipito-frontal diameter (OFD), both
outer-to-outer as in HC18's ellipse annotations.

Spacing: ``spacing_mm`` is one number (square pixels) or a pair ``(sy, sx)`` (mm per row, mm per column), as
DICOM's PixelSpacing and the ultrasound-region calibration give it. With a pair the contour is mapped into mm
(x·sx, y·sy) and the ellipse is fitted there: an ellipse in pixels is not the same ellipse scaled in mm when the
pixels are not square (its axes turn), so scaling pixel-space axes afterwards would be wrong. Millimetre values
need a spacing and are ``None`` without one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from core.errors import InputError


@dataclass(frozen=True)
class Ellipse:
    """A fitted ellipse (x = column, y = row); axes are full lengths, not semi-axes. Pixel units unless it
    came from :func:`fit_ellipse_mm`, whose centre and axes are in mm."""

    center_xy: tuple
    axes_px: tuple          # (major, minor) full axis lengths (mm for an mm-space fit)
    angle_deg: float        # OpenCV's rotation of the first fitted axis

    @property
    def circumference_px(self) -> float:
        return ramanujan_circumference(self.axes_px[0] / 2.0, self.axes_px[1] / 2.0)

    @property
    def mean_diameter_px(self) -> float:
        return (self.axes_px[0] + self.axes_px[1]) / 2.0


@dataclass(frozen=True)
class Biometry:
    """What ``segment`` reports; mm fields are None without a pixel spacing, ellipse fields None when the
    mask is empty or too small to fit."""

    area_px: int
    area_mm2: float | None
    circumference_mm: float | None
    mean_diameter_mm: float | None
    circumference_px: float | None
    mean_diameter_px: float | None
    ellipse: Ellipse | None
    bpd_mm: float | None = None     # minor axis of the mm-space ellipse
    ofd_mm: float | None = None     # major axis of the mm-space ellipse

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("ellipse")
        if self.ellipse is not None:
            d["ellipse"] = {"center_xy": list(self.ellipse.center_xy), "axes_px": list(self.ellipse.axes_px),
                            "angle_deg": self.ellipse.angle_deg}
        return d


def ramanujan_circumference(a: float, b: float) -> float:
    """Perimeter of an ellipse with semi-axes ``a``, ``b`` (Ramanujan I; exact for a circle: 2 pi r).

    >>> round(ramanujan_circumference(1.0, 1.0), 6) == round(2 * math.pi, 6)
    True
    """
    if a < 0 or b < 0:
        raise InputError(f"ellipse semi-axes must be >= 0, got a={a}, b={b}")
    return math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))


def largest_contour(mask) -> np.ndarray | None:
    """The outer contour (Nx1x2 int32, x/y) with the largest area, or None for an empty mask."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise InputError(f"mask: expected a 2-D array, got shape {m.shape}")
    contours, _ = cv2.findContours((m > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    return max(contours, key=cv2.contourArea)


def _fit(points: np.ndarray, pixel_extent) -> Ellipse:
    """cv2.fitEllipse on ``points`` (N x 2 float, x/y), each axis grown by one pixel's extent along it.

    Why grow: contour points run through pixel centres, half a pixel inside the region's true edge on each
    side, so a drawn disc of radius r would otherwise measure 2r - 1. ``pixel_extent(theta)`` is the length of
    one pixel along direction theta (1 in pixel space; sqrt((sx cos)^2 + (sy sin)^2) in mm space).
    """
    (cx, cy), (d1, d2), angle = cv2.fitEllipse(points.astype(np.float32).reshape(-1, 1, 2))
    theta = math.radians(angle)
    # OpenCV: d1 lies along the direction rotated by `angle` from the x-axis, d2 perpendicular to it.
    d1 += pixel_extent(theta)
    d2 += pixel_extent(theta + math.pi / 2)
    major, minor = max(d1, d2), min(d1, d2)
    return Ellipse(center_xy=(float(cx), float(cy)), axes_px=(float(major), float(minor)), angle_deg=float(angle))


def fit_ellipse(mask) -> Ellipse | None:
    """Pixel-space ellipse of the largest contour; None when it has fewer than 5 points (fitEllipse's minimum)."""
    contour = largest_contour(mask)
    if contour is None or len(contour) < 5:
        return None
    return _fit(contour.reshape(-1, 2).astype(np.float64), lambda theta: 1.0)


def fit_ellipse_mm(mask, spacing_mm) -> Ellipse | None:
    """Ellipse of the largest contour fitted in mm space (centre and axes in mm; see the module docstring)."""
    sy, sx = check_spacing(spacing_mm)
    contour = largest_contour(mask)
    if contour is None or len(contour) < 5:
        return None
    pts = contour.reshape(-1, 2).astype(np.float64) * np.array([sx, sy])
    return _fit(pts, lambda theta: math.hypot(sx * math.cos(theta), sy * math.sin(theta)))


def check_spacing(spacing_mm) -> tuple[float, float] | None:
    """``(sy, sx)`` in mm per pixel from one number or a pair; None stays None. Raises InputError otherwise."""
    if spacing_mm is None:
        return None
    values = spacing_mm if isinstance(spacing_mm, (tuple, list, np.ndarray)) else (spacing_mm, spacing_mm)
    if len(values) != 2:
        raise InputError(f"pixel spacing must be one number or (row, column) mm per pixel, got {spacing_mm!r}")
    out = []
    for v in values:
        try:
            s = float(v)
        except (TypeError, ValueError):
            raise InputError(f"pixel spacing must be a number of mm per pixel, got {spacing_mm!r}") from None
        if not math.isfinite(s) or s <= 0:
            raise InputError(f"pixel spacing must be a positive number of mm per pixel, got {spacing_mm!r}")
        out.append(s)
    return out[0], out[1]


def measure(mask, *, spacing_mm=None) -> Biometry:
    """Area, ellipse circumference, BPD / OFD and mean diameter of ``mask`` (non-zero = structure).

    ``spacing_mm``: None, one number, or ``(sy, sx)`` mm per row / column.

    >>> m = np.zeros((64, 64), np.uint8); _ = cv2.circle(m, (32, 32), 20, 1, -1)
    >>> b = measure(m, spacing_mm=0.5)
    >>> abs(b.circumference_mm - 2 * math.pi * 20 * 0.5) < 1.0
    True
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise InputError(f"mask: expected a 2-D array, got shape {m.shape}")
    s = check_spacing(spacing_mm)
    area = int(np.count_nonzero(m))
    ellipse = fit_ellipse(m) if area else None
    circ_px = ellipse.circumference_px if ellipse else None
    diam_px = ellipse.mean_diameter_px if ellipse else None
    mm = None
    if s is not None and ellipse is not None:
        mm = ellipse if s[0] == s[1] == 1.0 else fit_ellipse_mm(m, s)
    return Biometry(
        area_px=area,
        area_mm2=area * s[0] * s[1] if s is not None else None,
        circumference_mm=mm.circumference_px if mm else None,
        mean_diameter_mm=mm.mean_diameter_px if mm else None,
        circumference_px=circ_px,
        mean_diameter_px=diam_px,
        ellipse=ellipse,
        bpd_mm=mm.axes_px[1] if mm else None,
        ofd_mm=mm.axes_px[0] if mm else None,
    )
