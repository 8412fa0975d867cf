"""Biometry of a segmented structure: area, and an ellipse fit giving circumference and mean diameter.

Why an ellipse: clinical biometry measures structures as ellipses (head circumference in HC18, the mean sac
diameter of a gestational sac), which is robust to a ragged mask edge. The ellipse is cv2.fitEllipse on the
largest outer contour of the mask; circumference uses Ramanujan's approximation
``pi * (3(a+b) - sqrt((3a+b)(a+3b)))`` with semi-axes a, b; the 2-D mean diameter is the mean of the two axes.
Millimetre values need a pixel spacing and are ``None`` without one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from core.errors import InputError


@dataclass(frozen=True)
class Ellipse:
    """A fitted ellipse in pixel coordinates (x = column, y = row); axes are full lengths, not semi-axes."""

    center_xy: tuple
    axes_px: tuple          # (major, minor) full axis lengths in pixels
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


def fit_ellipse(mask) -> Ellipse | None:
    """cv2.fitEllipse on the largest contour; None when it has fewer than 5 points (fitEllipse's minimum)."""
    contour = largest_contour(mask)
    if contour is None or len(contour) < 5:
        return None
    # Contour points run through pixel centres, half a pixel inside the region's true edge: grow each axis by
    # one pixel so that a drawn disc of radius r measures 2*r, not 2*r - 1.
    (cx, cy), (d1, d2), angle = cv2.fitEllipse(contour.astype(np.float32))
    major, minor = max(d1, d2) + 1.0, min(d1, d2) + 1.0
    return Ellipse(center_xy=(float(cx), float(cy)), axes_px=(float(major), float(minor)), angle_deg=float(angle))


def _check_spacing(spacing_mm) -> float | None:
    if spacing_mm is None:
        return None
    try:
        s = float(spacing_mm)
    except (TypeError, ValueError):
        raise InputError(f"pixel spacing must be a number of mm per pixel, got {spacing_mm!r}") from None
    if not math.isfinite(s) or s <= 0:
        raise InputError(f"pixel spacing must be a positive number of mm per pixel, got {spacing_mm!r}")
    return s


def measure(mask, *, spacing_mm: float | None = None) -> Biometry:
    """Area, ellipse circumference and mean diameter of ``mask`` (non-zero = structure).

    >>> m = np.zeros((64, 64), np.uint8); _ = cv2.circle(m, (32, 32), 20, 1, -1)
    >>> b = measure(m, spacing_mm=0.5)
    >>> abs(b.circumference_mm - 2 * math.pi * 20 * 0.5) < 1.0
    True
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise InputError(f"mask: expected a 2-D array, got shape {m.shape}")
    s = _check_spacing(spacing_mm)
    area = int(np.count_nonzero(m))
    ellipse = fit_ellipse(m) if area else None
    circ_px = ellipse.circumference_px if ellipse else None
    diam_px = ellipse.mean_diameter_px if ellipse else None
    return Biometry(
        area_px=area,
        area_mm2=area * s * s if s is not None else None,
        circumference_mm=circ_px * s if (s is not None and circ_px is not None) else None,
        mean_diameter_mm=diam_px * s if (s is not None and diam_px is not None) else None,
        circumference_px=circ_px,
        mean_diameter_px=diam_px,
        ellipse=ellipse,
    )
