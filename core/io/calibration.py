"""Calibration: mm per pixel at a point, from the ultrasound region that contains it (x and y separately).

Why per region: an ultrasound screen holds several regions (a B-mode image beside a zoomed inset, a Doppler
spectrum under the image), each with its own scale in SequenceOfUltrasoundRegions. Taking the first region
or averaging x and y gives wrong millimetres, a patient-safety problem for calipers and biometry. So the
region whose bounds contain the measurement decides, PhysicalDeltaX for columns and PhysicalDeltaY for rows
(units: centimetres, code 3, converted to mm); a point in no calibrated region, or in a region calibrated in
other units (seconds, cm/s), has no mm value. Without a region sequence, PixelSpacing (row, column) applies to
the whole image. Regions travel as plain dicts (JSON-safe) so they survive de-identification and storage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

CM = 3  # PhysicalUnitsX/YDirection code for centimetres (PS3.3 C.8.5.5.1.15)


def _positive(value) -> float | None:
    try:
        v = abs(float(value))
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def regions_of(ds) -> list[dict]:
    """The regions of a pydicom data set as dicts ``{x0, y0, x1, y1, sy_mm, sx_mm}`` (bounds inclusive, pixel
    columns x and rows y; ``sy_mm``/``sx_mm`` None when that axis is not calibrated in cm), or one whole-image
    region from PixelSpacing when there is no region sequence. Empty when nothing calibrates the image."""
    out = []
    try:
        for item in ds.get("SequenceOfUltrasoundRegions") or []:
            bounds = [_int(item.get(k)) for k in ("RegionLocationMinX0", "RegionLocationMinY0",
                                                  "RegionLocationMaxX1", "RegionLocationMaxY1")]
            if any(b is None for b in bounds) or bounds[2] < bounds[0] or bounds[3] < bounds[1]:
                continue
            sx = _positive(item.get("PhysicalDeltaX")) if item.get("PhysicalUnitsXDirection") == CM else None
            sy = _positive(item.get("PhysicalDeltaY")) if item.get("PhysicalUnitsYDirection") == CM else None
            out.append({"x0": bounds[0], "y0": bounds[1], "x1": bounds[2], "y1": bounds[3],
                        "sx_mm": sx * 10.0 if sx else None, "sy_mm": sy * 10.0 if sy else None})
        if out or ds.get("SequenceOfUltrasoundRegions"):
            return out
        ps = ds.get("PixelSpacing")
        if ps is not None and len(ps) >= 2 and _positive(ps[0]) and _positive(ps[1]):
            rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
            if rows > 0 and cols > 0:
                return [{"x0": 0, "y0": 0, "x1": cols - 1, "y1": rows - 1, "sy_mm": _positive(ps[0]),
                         "sx_mm": _positive(ps[1])}]
    except Exception:  # noqa: BLE001 - a damaged optional attribute only means "not calibrated"
        return []
    return []


def _regions(source) -> list[dict]:
    if source is None:
        return []
    if hasattr(source, "metadata") and isinstance(getattr(source, "metadata"), dict):  # a LoadedImage
        return list(source.metadata.get("calibration_regions") or [])
    if hasattr(source, "get") and not isinstance(source, dict) and hasattr(source, "dir"):  # pydicom Dataset
        return regions_of(source)
    if isinstance(source, Iterable):
        return [dict(r) for r in source]
    return []


def region_at(source, x: float, y: float) -> dict | None:
    """The calibrated region containing pixel (x = column, y = row); the smallest one where regions overlap
    (an inset drawn over the main image). None when no region with cm in both axes contains the point."""
    hits = [r for r in _regions(source)
            if r["x0"] <= x <= r["x1"] and r["y0"] <= y <= r["y1"]]
    if not hits:
        return None
    best = min(hits, key=lambda r: (r["x1"] - r["x0"] + 1) * (r["y1"] - r["y0"] + 1))
    return best if best.get("sx_mm") and best.get("sy_mm") else None


def spacing_at(dataset_or_regions, x: float, y: float) -> tuple[float, float] | None:
    """``(sy_mm, sx_mm)``, mm per row and per column at pixel (x, y), or None outside any calibrated region.

    ``dataset_or_regions``: a pydicom Dataset, a LoadedImage (its ``metadata["calibration_regions"]``) or a
    list of region dicts as :func:`regions_of` returns them.
    """
    region = region_at(dataset_or_regions, x, y)
    return (region["sy_mm"], region["sx_mm"]) if region else None


def spacing_for_box(source, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float] | None:
    """Spacing for a structure spanning the box: all four corners must lie in the same calibrated region."""
    regions = [region_at(source, x, y) for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))]
    if any(r is None for r in regions) or any(r != regions[0] for r in regions[1:]):
        return None
    return (regions[0]["sy_mm"], regions[0]["sx_mm"])


def spacing_for_mask(source, mask) -> tuple[float, float] | None:
    """Spacing for a segmented structure (its bounding box must sit in one calibrated region)."""
    import numpy as np

    m = np.asarray(mask) > 0
    if not m.any():
        return None
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    return spacing_for_box(source, float(cols[0]), float(rows[0]), float(cols[-1]), float(rows[-1]))


def caliper_mm(source, p1: tuple[float, float], p2: tuple[float, float]) -> float | None:
    """Distance in mm between two caliper points ``(x, y)``; None unless both lie in one calibrated region
    (a caliper across two regions with different scales has no single mm value)."""
    r1, r2 = region_at(source, *p1), region_at(source, *p2)
    if r1 is None or r1 != r2:
        return None
    dx, dy = (p2[0] - p1[0]) * r1["sx_mm"], (p2[1] - p1[1]) * r1["sy_mm"]
    return math.hypot(dx, dy)


def isotropic_spacing(regions: list[dict]) -> float | None:
    """One mm/pixel for the whole image, only when it is unambiguous: every calibrated region has the same
    square-pixel scale. Anisotropic or multi-scale images give None (use :func:`spacing_at`)."""
    scales = {(round(r["sy_mm"], 9), round(r["sx_mm"], 9)) for r in regions if r.get("sx_mm") and r.get("sy_mm")}
    if len(scales) != 1:
        return None
    sy, sx = scales.pop()
    return sy if math.isclose(sy, sx, rel_tol=1e-6) else None
