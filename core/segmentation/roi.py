"""The classifier's region of interest: the whole picture, or a square around the segmented gestational sac.

Why: the miscarriage paper classifies "the segmented sac" (DESIGN.md section 1), not the whole frame. The sac
fills only a third of a frame, so at the CPU input size (128 px) its outline, rim and yolk sac are a few pixels
wide; a square box around the sac, ``SAC_MARGIN`` times its longer side, magnifies them about 2x and keeps the
rim and the tissue around it. Measured (``train --task miscarriage --arch resnet18 --cv kfold:5``, 200
synthetic patients, two generated sets): out-of-fold patient AUC 0.820 -> 0.826 and 0.750 -> 0.776 with the
level-set square; crops from the expert tracings gave 0.849 and 0.789 (not used: prediction has no tracing).

Training and prediction find the box the same way, with the level set (:func:`segment_levelset`) on the
picture itself, so a model never sees expert-mask crops in training and level-set crops in use. When no sac is
found the whole picture is used (the model then sees an unmagnified frame; the predictor says so in
``roi_found``). It lives in :mod:`core.segmentation` because the box comes from the level set; the
training datasets and the predictor, both above this package, call it.

>>> import numpy as np
>>> m = np.zeros((100, 100), bool); m[40:60, 30:70] = True          # 40 wide, 20 high
>>> square_box(m, margin=1.5)                                          # 60 x 60 around the centre (50, 50)
(20, 20, 80, 80)
"""

from __future__ import annotations

import cv2
import numpy as np

from core.errors import InputError
from core.segmentation.levelset import segment_levelset

ROI_KINDS = ("image", "sac")
SAC_MARGIN = 1.3


def check_roi(kind: str) -> str:
    if kind not in ROI_KINDS:
        raise InputError(f"roi {kind!r}; choose one of: {', '.join(ROI_KINDS)}")
    return kind


def square_box(mask: np.ndarray, *, margin: float = SAC_MARGIN) -> tuple | None:
    """``(x0, y0, x1, y1)`` of the square centred on the mask's bounding box, ``margin`` x its longer side
    (it may reach past the picture's edge); None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    cy, cx = (ys.min() + ys.max() + 1) / 2, (xs.min() + xs.max() + 1) / 2
    half = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) * margin / 2
    return tuple(int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half))


def crop_to_box(arr: np.ndarray, box: tuple) -> np.ndarray:
    """The pixels of ``box`` (rows y0..y1-1, columns x0..x1-1); parts outside the picture are black."""
    x0, y0, x1, y1 = box
    h, w = arr.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0, *arr.shape[2:]), dtype=arr.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = arr[sy0:sy1, sx0:sx1]
    return out


def sac_box(image) -> tuple | None:
    """The square box around the level-set sac of ``image``, or None when no sac is found."""
    return square_box(segment_levelset(image).mask)


def roi_box(image: np.ndarray, kind: str) -> tuple:
    """The box the classifier sees: the sac's square (``kind="sac"``, when found) or the whole picture."""
    box = sac_box(image) if check_roi(kind) == "sac" else None
    return box if box is not None else (0, 0, image.shape[1], image.shape[0])


def paste_map(values: np.ndarray, box: tuple, shape_hw: tuple) -> np.ndarray:
    """A map computed on the crop of ``box`` (any size), placed on a zero map of the full picture."""
    x0, y0, x1, y1 = box
    h, w = shape_hw
    inside = cv2.resize(np.asarray(values, np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    full = np.zeros((h, w), np.float32)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        full[sy0:sy1, sx0:sx1] = inside[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
    return full
