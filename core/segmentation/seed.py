"""Where is the sac? Candidate dark blobs inside the ROI, scored by size, contrast and centrality.

Why a separate step before the level set: scikit-image's morphological level sets move the contour about one
pixel per iteration, so the result depends on where they start. A global two-class split of a whole fan
mixes the anechoic sac with darker tissue (deep, attenuated regions, shadowing) and lets them touch; the
gestational sac is instead the blob that is much darker than the tissue right around it (its bright
decidual rim). So candidates are the components of a dark threshold at several levels (Otsu; the upper bound of
the darkest of three multi-Otsu classes, and 3/4 and 1/2 of the way down from it to the darkest pixel), components touching the ROI edge are dropped, and the one with the largest
``area * (ring mean - inside mean) * solidity^2 / (1 + w * d^2)`` wins (d = distance from the ROI centre /
ROI radius; solidity = outline area / convex-hull area, so a sac with a tail of dark tissue attached, whose
hull would swallow tissue, loses to the same sac cut cleanly at a darker level).
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.filters import threshold_multiotsu, threshold_otsu


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def dark_thresholds(img: np.ndarray, region: np.ndarray) -> list[float]:
    """Threshold levels to try, brightest first: Otsu, the darkest multi-Otsu class bound, and two lower."""
    values = img[region]
    if values.size < 16 or np.ptp(values) < 1e-6:
        return []
    out = [float(threshold_otsu(values))]
    try:
        low = float(threshold_multiotsu(values, classes=3)[0])
    except ValueError:  # too few distinct grey levels for three classes
        return out
    lo = float(values.min())
    # Lower levels too: a very dark sac next to darkish tissue separates from it only below the class bound.
    return out + [lo + f * (low - lo) for f in (1.0, 0.75, 0.5)]


def solidity(blob: np.ndarray) -> float:
    """Area of the blob's outline over the area of its convex hull (1 for a convex blob, holes ignored)."""
    contours, _ = cv2.findContours(blob.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return 0.0
    outline = max(contours, key=cv2.contourArea)
    hull = cv2.contourArea(cv2.convexHull(outline))
    return float(cv2.contourArea(outline) / hull) if hull > 0 else 1.0


def clean(mask: np.ndarray, region: np.ndarray, *, close_px: int, open_px: int) -> np.ndarray:
    """Close small gaps (debris, an embryo on the wall), then open thin bridges to dark tissue."""
    out = mask.astype(np.uint8)
    for op, radius in ((cv2.MORPH_CLOSE, close_px), (cv2.MORPH_OPEN, open_px)):
        if radius > 0:
            out = cv2.morphologyEx(out, op, _disk(radius))
    return (out > 0) & region


def pick_seed(img: np.ndarray, region: np.ndarray, *, close_px: int = 3, open_px: int = 2,
              edge_margin: float = 0.02, min_area_fraction: float = 0.002, centre_weight: float = 1.0,
              ring_px: int = 4, touching_allowed: bool = False) -> np.ndarray:
    """Boolean mask of the most sac-like dark blob (empty when nothing qualifies)."""
    h, w = img.shape
    band = max(1, int(round(edge_margin * max(h, w))))
    core = (cv2.erode(np.pad(region, band).astype(np.uint8), _disk(band)) > 0)[band:-band, band:-band]
    rows, cols = np.nonzero(region)
    if rows.size == 0:
        return np.zeros_like(region)
    cy, cx = rows.mean(), cols.mean()
    radius = 0.5 * np.hypot(np.ptp(rows) + 1, np.ptp(cols) + 1)
    min_area = max(4.0, min_area_fraction * rows.size)
    best, best_score = None, 0.0
    for t in dark_thresholds(img, region):
        dark = clean(img < t, region, close_px=close_px, open_px=open_px)
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(dark.astype(np.uint8), connectivity=8)
        touching = set() if touching_allowed else set(np.unique(labels[dark & ~core]).tolist())
        for k in range(1, n):
            area = stats[k, cv2.CC_STAT_AREA]
            if k in touching or area < min_area:
                continue
            x, y, bw, bh = stats[k, :4]
            y0, y1 = max(0, y - ring_px), min(h, y + bh + ring_px)
            x0, x1 = max(0, x - ring_px), min(w, x + bw + ring_px)
            comp = labels[y0:y1, x0:x1] == k
            ring = (cv2.dilate(comp.astype(np.uint8), _disk(ring_px)) > 0) & ~comp & region[y0:y1, x0:x1]
            if not ring.any():
                continue
            sub = img[y0:y1, x0:x1]
            contrast = float(sub[ring].mean() - sub[comp].mean())
            d = np.hypot(centroids[k][0] - cx, centroids[k][1] - cy) / radius
            score = area * contrast * solidity(comp) ** 2 / (1.0 + centre_weight * d * d)
            if score > best_score:
                best, best_score = labels == k, score
    return best if best is not None else np.zeros_like(region)
