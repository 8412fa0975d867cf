"""The miscarriage study's classical gestational-sac segmentation, no training.

Pipeline (DESIGN.md section 1): region of interest (the fan, or a user box) -> level set (scikit-image's
morphological Chan-Vese, or the morphological geodesic active contour) -> largest connected component ->
filled convex hull (the smallest convex polygon holding it) -> contour drawn on the original image.

Why these choices: a gestational sac is an anechoic (dark) region inside the bright speckle of the fan. All
work happens on a median-filtered, smoothed, down-scaled copy of the ROI (speckle averages out, and the level
set takes milliseconds on 128 px); an image larger than ``max_input_size`` is downscaled before anything else
(overlay inpainting and the fan search included), so a 40-megapixel upload costs what a 1024 px one does. Pixels outside the ROI (the scanner's black frame) are set to the ROI's
median so they never join the sac. A seed blob is chosen first (core.segmentation.seed: dark, not touching
the ROI edge, contrasting with its rim, central); the level set then evolves from it in a box around it and
keeps its dark phase, whose component holding the seed is filled by its convex hull, which closes the
contour over the embryo, the yolk sac and debris inside the sac.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from skimage.morphology import convex_hull_image
from skimage.segmentation import (inverse_gaussian_gradient, morphological_chan_vese,
                                  morphological_geodesic_active_contour)

from core.errors import InputError
from core.preprocess.fan import Box, bounding_box, check_box, fan_mask
from core.preprocess.normalize import as_array, to_gray, to_uint8
from core.preprocess.overlays import remove_overlays
from core.segmentation.seed import pick_seed

METHODS = ("chan_vese", "geodesic")


@dataclass(frozen=True)
class LevelSetParams:
    """Tunable parameters of :func:`segment_levelset`; the defaults suit 6-8 week sacs in a B-mode fan."""

    method: str = "chan_vese"       # "chan_vese" (region-based) | "geodesic" (edge-based, shrinks onto edges)
    iterations: int = 20            # level-set iterations (each moves the contour by about one working pixel)
    smoothing: int = 1              # curvature smoothing steps per iteration
    lambda1: float = 1.0            # Chan-Vese weight of the inside (sac) region
    lambda2: float = 1.0            # Chan-Vese weight of the outside region
    balloon: float = -1.0           # geodesic: negative shrinks the contour from the dilated seed
    margin: float = 0.5             # level-set box around the seed, and how far the edge may move (seed size)
    working_size: int = 128         # longest ROI side after down-scaling, in pixels (speed and speckle)
    max_input_size: int = 1024      # longest image side the pipeline reads; larger images are downscaled first
    median_px: int = 5              # median filter (odd kernel, working px; 0 = off): removes speckle, keeps edges
    blur_sigma: float = 1.5         # Gaussian sigma in working pixels after the median
    close_px: int = 3               # seed: closing radius (working px) joining a sac split by debris or an embryo
    open_px: int = 2                # seed: opening radius (working px) cutting thin bridges to dark tissue
    edge_margin: float = 0.02       # seed: ROI border band (fraction of the working size) that disqualifies a blob
    min_area_fraction: float = 0.002  # seed: smallest accepted sac, as a fraction of the ROI area
    centre_weight: float = 1.0      # seed: 0 ignores position; higher favours blobs near the ROI centre
    convex_hull: bool = True        # fill the component's convex hull (the paper's "smallest convex polygon")
    inpaint_overlays: bool = True   # remove coloured calipers before segmenting

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(f"level set: method must be one of {METHODS}, got {self.method!r}")
        checks = {"iterations": self.iterations >= 1, "smoothing": self.smoothing >= 0,
                  "lambda1": self.lambda1 > 0, "lambda2": self.lambda2 > 0, "margin": 0 <= self.margin <= 2,
                  "working_size": self.working_size >= 16, "blur_sigma": self.blur_sigma >= 0,
                  "max_input_size": self.max_input_size >= self.working_size,
                  "median_px": self.median_px == 0 or (self.median_px >= 3 and self.median_px % 2 == 1),
                  "close_px": self.close_px >= 0, "open_px": self.open_px >= 0,
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


def _evolve(img: np.ndarray, seed: np.ndarray, region: np.ndarray, params: LevelSetParams) -> np.ndarray:
    """Run the level set in a box around ``seed`` and return the dark region grown from it.

    Locally there are two populations, the cavity and its rim/tissue, so Chan-Vese with equal weights puts
    the edge midway between them, where it belongs; the growth is limited to ``margin`` of the seed's size.
    """
    x, y, w, h = cv2.boundingRect(seed.astype(np.uint8))
    pad = int(round(params.margin * max(w, h))) + 2
    rows = slice(max(0, y - pad), min(img.shape[0], y + h + pad))
    cols = slice(max(0, x - pad), min(img.shape[1], x + w + pad))
    sub, init = img[rows, cols], seed[rows, cols]
    if params.method == "chan_vese":
        ls = morphological_chan_vese(sub, num_iter=params.iterations, init_level_set=init.astype(np.int8),
                                     smoothing=params.smoothing, lambda1=params.lambda1,
                                     lambda2=params.lambda2).astype(bool)
        if ls.any() and (~ls).any() and sub[ls].mean() > sub[~ls].mean():
            ls = ~ls  # Chan-Vese's two phases carry no order: keep the darker one
    else:
        grown = cv2.dilate(init.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        ls = morphological_geodesic_active_contour(inverse_gaussian_gradient(sub), num_iter=params.iterations,
                                                   init_level_set=grown.astype(np.int8), smoothing=params.smoothing,
                                                   balloon=params.balloon).astype(bool)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pad + 1, 2 * pad + 1))
    ls &= region[rows, cols] & (cv2.dilate(init.astype(np.uint8), disk) > 0)
    # Largest connected component, here: the one holding most of the seed.
    n, labels = cv2.connectedComponents(ls.astype(np.uint8), connectivity=8)
    out = np.zeros_like(seed)
    if n > 1:
        overlap = np.bincount(labels[init], minlength=n)
        overlap[0] = 0
        if overlap.max() > 0:
            out[rows, cols] = labels == int(np.argmax(overlap))
    return out if out.any() else seed


def segment_levelset(image, *, roi: Box | None = None, params: LevelSetParams = LevelSetParams()) -> LevelSetResult:
    """Segment the gestational sac (the main dark region inside the fan) of one image.

    Parameters
    ----------
    image : HxW or HxWx3 pixels (uint8, or float in [0, 1]), or a LoadedImage.
    roi : optional user box ``(x0, y0, x1, y1)``; by default the ultrasound fan is the ROI.
    params : :class:`LevelSetParams`.

    Returns a :class:`LevelSetResult`; its mask is empty (not an error) when no dark region qualifies.
    Images larger than ``params.max_input_size`` are segmented on a downscaled copy (the level set itself
    runs at ``working_size`` anyway) and the mask is scaled back: the work is bounded whatever the upload.
    """
    arr = as_array(image)
    h0, w0 = arr.shape[:2]
    scale = min(1.0, params.max_input_size / max(h0, w0))
    if scale < 1.0:
        return _segment_downscaled(arr, roi, params, scale)
    return _segment(arr, roi, params)


def _segment_downscaled(arr: np.ndarray, roi, params: LevelSetParams, scale: float) -> LevelSetResult:
    h0, w0 = arr.shape[:2]
    src = np.ascontiguousarray(arr if arr.dtype == np.uint8 else to_uint8(arr))
    small = cv2.resize(src, (max(4, round(w0 * scale)), max(4, round(h0 * scale))), interpolation=cv2.INTER_AREA)
    sy, sx = small.shape[0] / h0, small.shape[1] / w0
    small_roi = None
    if roi is not None:
        x0, y0, x1, y1 = check_box(roi, arr.shape)
        small_roi = (int(x0 * sx), int(y0 * sy), max(int(x0 * sx) + 4, int(np.ceil(x1 * sx))),
                     max(int(y0 * sy) + 4, int(np.ceil(y1 * sy))))
    result = _segment(small, small_roi, params)
    full = cv2.resize(result.mask.astype(np.uint8), (w0, h0), interpolation=cv2.INTER_NEAREST) > 0
    bx0, by0, bx1, by1 = result.roi
    box = (int(bx0 / sx), int(by0 / sy), min(w0, int(np.ceil(bx1 / sx))), min(h0, int(np.ceil(by1 / sy))))
    contours, _ = cv2.findContours(full.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return LevelSetResult(mask=full, contours=list(contours), roi=box)


def _segment(arr: np.ndarray, roi, params: LevelSetParams) -> LevelSetResult:
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
    if params.median_px:
        work = cv2.medianBlur(np.clip(work * 255 + 0.5, 0, 255).astype(np.uint8), params.median_px) / 255.0
        work = work.astype(np.float32)
    if params.blur_sigma > 0:
        work = cv2.GaussianBlur(work, (0, 0), params.blur_sigma)
    options = dict(close_px=params.close_px, open_px=params.open_px, edge_margin=params.edge_margin,
                   min_area_fraction=params.min_area_fraction, centre_weight=params.centre_weight)
    seed = pick_seed(work, region, **options)
    if roi is not None and not seed.any():  # a tight user box may cut through the sac: accept edge blobs
        seed = pick_seed(work, region, touching_allowed=True, **options)
    sac = _evolve(work, seed, region, params) if seed.any() else seed
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
