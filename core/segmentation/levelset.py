"""The miscarriage study's classical gestational-sac segmentation, no training.

Pipeline (DESIGN.md section 1): region of interest (the fan, or a user box) -> level set (scikit-image's
morphological Chan-Vese, or the morphological geodesic active contour) -> largest connected component ->
filled convex hull (the smallest convex polygon holding it) -> contour drawn on the original image.

Why these choices: a gestational sac is an anechoic (dark) region inside the bright speckle of the fan. The
level set runs on a smoothed, down-scaled copy of the ROI (speckle averages out, and 20 iterations on 128 px
take tens of milliseconds), starts from an Otsu split so it converges quickly, and keeps the dark phase. Dark
pixels outside the ROI (the scanner's black frame) are set to the ROI's median so they never join the sac.
Of the dark components, those touching the ROI edge (shadowing, the frame) are dropped and the largest one,
weighted by closeness to the ROI centre, is the sac; the convex hull then closes it over bright echoes inside.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from skimage.filters import threshold_otsu
from skimage.morphology import convex_hull_image
from skimage.segmentation import (inverse_gaussian_gradient, morphological_chan_vese,
                                  morphological_geodesic_active_contour)

from core.errors import InputError
from core.preprocess.fan import Box, bounding_box, check_box, fan_mask
from core.preprocess.normalize import as_array, to_gray, to_uint8
from core.preprocess.overlays import remove_overlays

METHODS = ("chan_vese", "geodesic")


@dataclass(frozen=True)
class LevelSetParams:
    """Tunable parameters of :func:`segment_levelset`; the defaults suit 6-8 week sacs in a B-mode fan."""

    method: str = "chan_vese"       # "chan_vese" (region-based) | "geodesic" (edge-based, shrinks onto edges)
    iterations: int = 20            # level-set iterations
    smoothing: int = 1              # curvature smoothing steps per iteration
    lambda1: float = 1.5            # Chan-Vese weight of the dark region (> lambda2: only clearly dark pixels,
    lambda2: float = 1.0            #   so the sac does not leak into darker tissue) / of the bright region
    refine_iterations: int = 10     # local Chan-Vese (equal weights) around the chosen blob; 0 turns it off
    refine_margin: float = 0.2      # how far (fraction of the blob's size) the refinement may move the edge
    balloon: float = -1.0           # geodesic: negative shrinks the contour from the dilated initial guess
    working_size: int = 128         # longest ROI side after down-scaling, in pixels (speed and speckle)
    blur_sigma: float = 1.5         # Gaussian sigma in working pixels before the level set
    close_px: int = 3               # closing radius (working px) joining a sac split by debris or an embryo
    edge_margin: float = 0.02       # ROI border band (fraction of the working size) that disqualifies a blob
    min_area_fraction: float = 0.002  # smallest accepted sac, as a fraction of the ROI area
    centre_weight: float = 1.0      # 0: plain largest component; higher favours components near the centre
    convex_hull: bool = True        # fill the component's convex hull (the paper's "smallest convex polygon")
    inpaint_overlays: bool = True   # remove coloured calipers before segmenting

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(f"level set: method must be one of {METHODS}, got {self.method!r}")
        checks = {"iterations": self.iterations >= 1, "smoothing": self.smoothing >= 0,
                  "refine_iterations": self.refine_iterations >= 0, "refine_margin": self.refine_margin >= 0,
                  "working_size": self.working_size >= 16, "close_px": self.close_px >= 0, "blur_sigma": self.blur_sigma >= 0,
                  "edge_margin": 0 <= self.edge_margin < 0.5, "min_area_fraction": 0 <= self.min_area_fraction < 1,
                  "centre_weight": self.centre_weight >= 0}
        for name, ok in checks.items():
            if not ok:
                raise InputError(f"level set: parameter {name}={getattr(self, name)!r} is out of range")


@dataclass(frozen=True)
class LevelSetResult:
    """Mask (bool, original size), its outer contours (OpenCV format, original pixels) and the ROI used."""

    mask: np.ndarray
    contours: list = field(repr=False)
    roi: Box


def _working_roi(gray: np.ndarray, roi_mask: np.ndarray, box: Box, size: int):
    x0, y0, x1, y1 = box
    crop = gray[y0:y1, x0:x1]
    region = roi_mask[y0:y1, x0:x1]
    scale = min(1.0, size / max(crop.shape))
    if scale < 1.0:
        dsize = (max(4, round(crop.shape[1] * scale)), max(4, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, dsize, interpolation=cv2.INTER_AREA)
        region = cv2.resize(region.astype(np.uint8), dsize, interpolation=cv2.INTER_NEAREST) > 0
    return crop, region


def _dark_phase(img: np.ndarray, region: np.ndarray, params: LevelSetParams) -> np.ndarray:
    """Run the level set on ``img`` (already smoothed, ROI-only) and return its dark phase inside ``region``."""
    inside = img[region]
    init = (img < threshold_otsu(inside)) & region if np.ptp(inside) > 1e-6 else region.copy()
    if not init.any():
        return np.zeros_like(region)
    if params.method == "chan_vese":
        ls = morphological_chan_vese(img, num_iter=params.iterations, init_level_set=init.astype(np.int8),
                                     smoothing=params.smoothing, lambda1=params.lambda1,
                                     lambda2=params.lambda2).astype(bool)
    else:
        grown = cv2.dilate(init.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        edges = inverse_gaussian_gradient(img)
        ls = morphological_geodesic_active_contour(edges, num_iter=params.iterations,
                                                   init_level_set=grown.astype(np.int8),
                                                   smoothing=params.smoothing, balloon=params.balloon).astype(bool)
    inside_ls, outside_ls = img[ls & region], img[~ls & region]
    if inside_ls.size and outside_ls.size and inside_ls.mean() > outside_ls.mean():
        ls = ~ls  # Chan-Vese's phases carry no order: keep the darker one
    return ls & region


def _pick_component(dark: np.ndarray, region: np.ndarray, params: LevelSetParams) -> np.ndarray:
    """The dark blob most likely to be the sac: not touching the ROI edge, large and central."""
    h, w = dark.shape
    band = max(1, int(round(params.edge_margin * max(h, w))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    padded = np.pad(region, 1).astype(np.uint8)
    core = (cv2.erode(padded, kernel) > 0)[1:-1, 1:-1]
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(dark.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(dark)
    edge_labels = set(np.unique(labels[dark & ~core]).tolist())
    rows, cols = np.nonzero(region)
    cy, cx = rows.mean(), cols.mean()
    radius = 0.5 * np.hypot(np.ptp(rows) + 1, np.ptp(cols) + 1)
    min_area = params.min_area_fraction * region.sum()
    best, best_score = 0, 0.0
    for k in range(1, n):
        area = stats[k, cv2.CC_STAT_AREA]
        if k in edge_labels or area < min_area:
            continue
        d = np.hypot(centroids[k][0] - cx, centroids[k][1] - cy) / radius
        score = area / (1.0 + params.centre_weight * d * d)
        if score > best_score:
            best, best_score = k, score
    return labels == best if best else np.zeros_like(dark)


def _refine(img: np.ndarray, blob: np.ndarray, region: np.ndarray, params: LevelSetParams) -> np.ndarray:
    """Re-run Chan-Vese with equal weights in a box around ``blob``.

    Why: the global split is strict (lambda1 > lambda2) so that the sac is found without leaking into darker
    tissue, which leaves its edge a little inside the true one. Locally there are just two populations, the
    cavity and its bright rim, and equal weights put the edge midway between them, where it belongs.
    """
    if params.refine_iterations == 0 or not blob.any():
        return blob
    x, y, w, h = cv2.boundingRect(blob.astype(np.uint8))
    pad = int(round(params.refine_margin * max(w, h))) + 2
    rows = slice(max(0, y - pad), min(img.shape[0], y + h + pad))
    cols = slice(max(0, x - pad), min(img.shape[1], x + w + pad))
    sub, init = img[rows, cols], blob[rows, cols]
    ls = morphological_chan_vese(sub, num_iter=params.refine_iterations, init_level_set=init.astype(np.int8),
                                 smoothing=params.smoothing).astype(bool)
    if ls.any() and (~ls).any() and sub[ls].mean() > sub[~ls].mean():
        ls = ~ls
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pad + 1, 2 * pad + 1))
    ls &= region[rows, cols] & (cv2.dilate(init.astype(np.uint8), disk) > 0)
    n, labels = cv2.connectedComponents(ls.astype(np.uint8), connectivity=8)
    if n <= 1:
        return blob
    overlap = np.bincount(labels[init], minlength=n)
    overlap[0] = 0
    out = np.zeros_like(blob)
    out[rows, cols] = labels == int(np.argmax(overlap))
    return out if out.any() else blob


def segment_levelset(image, *, roi: Box | None = None, params: LevelSetParams = LevelSetParams()) -> LevelSetResult:
    """Segment the gestational sac (the main dark region inside the fan) of one image.

    Parameters
    ----------
    image : HxW or HxWx3 pixels (uint8, or float in [0, 1]), or a LoadedImage.
    roi : optional user box ``(x0, y0, x1, y1)``; by default the ultrasound fan is the ROI.
    params : :class:`LevelSetParams`.

    Returns a :class:`LevelSetResult`; its mask is empty (not an error) when no dark region qualifies.
    """
    arr = as_array(image)
    if params.inpaint_overlays and arr.ndim == 3:
        arr, _ = remove_overlays(arr)
    gray = to_gray(arr)
    h, w = gray.shape
    if roi is None:
        # The fan's true outline, not its convex hull: the black corners a hull would add are dark and would
        # join a sac lying near the fan's edge.
        roi_mask = fan_mask(gray, convex=False)
        box = bounding_box(roi_mask)
    else:
        box = check_box(roi, gray.shape)
        roi_mask = np.zeros((h, w), dtype=bool)
        roi_mask[box[1]:box[3], box[0]:box[2]] = True
    work, region = _working_roi(gray, roi_mask, box, params.working_size)
    work = work.copy()
    work[~region] = np.median(work[region])
    if params.blur_sigma > 0:
        work = cv2.GaussianBlur(work, (0, 0), params.blur_sigma)
    dark = _dark_phase(work, region, params)
    if params.close_px > 0:
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * params.close_px + 1,) * 2)
        dark = (cv2.morphologyEx(dark.astype(np.uint8), cv2.MORPH_CLOSE, disk) > 0) & region
    sac = _refine(work, _pick_component(dark, region, params), region, params)
    if params.convex_hull and sac.any():
        sac = convex_hull_image(sac)
    x0, y0, x1, y1 = box
    full = np.zeros((h, w), dtype=bool)
    if sac.any():
        up = cv2.resize(sac.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        full[y0:y1, x0:x1] = up >= 0.5
    contours, _ = cv2.findContours(full.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return LevelSetResult(mask=full, contours=list(contours), roi=box)


def draw_contours(image, mask, *, color=(255, 255, 0), thickness: int = 2) -> np.ndarray:
    """RGB uint8 copy of ``image`` with the outer contour of ``mask`` drawn on it (the paper's figure)."""
    rgb = to_uint8(image)
    rgb = cv2.cvtColor(rgb, cv2.COLOR_GRAY2RGB) if rgb.ndim == 2 else np.ascontiguousarray(rgb).copy()
    m = np.asarray(mask)
    if m.shape != rgb.shape[:2]:
        raise InputError(f"draw_contours: mask shape {m.shape} differs from image shape {rgb.shape[:2]}")
    contours, _ = cv2.findContours((m > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return cv2.drawContours(rgb, contours, -1, tuple(int(c) for c in color), int(thickness))
