"""Segmentation metrics as pure functions, with the papers' pixel definitions.

Why pure functions of two masks: the level set, the networks, the benchmark and stored evaluations all score
masks the same way, and a function of two arrays is easy to test against numbers worked out by hand.

Definitions (miscarriage study): with S the predicted and GT the reference pixels,
TP = |S and GT|, FP = |S and not GT|, FN = |GT and not S|;
Dice = 2 TP / (|S| + |GT|), IoU = TP / |S or GT|, precision = TP / (TP + FP), recall = TP / (TP + FN).

Empty masks, the one convention of the package: a ratio with a zero denominator (Dice or IoU of two empty
masks, precision of an empty prediction, recall of an empty truth) is undefined. It returns ``zero_division``
(NaN by default, scikit-learn's ``zero_division=np.nan``) and emits the package's one
:class:`~core.evaluation.UndefinedMetricWarning`; it never raises. Training scores its validation and held-out
masks with these same functions (:mod:`core.training.adapters`, :mod:`core.training.folds`), so a case with
nothing to find and nothing found is NaN there too and is left out of the mean Dice (pandas / ``np.nanmean``),
never counted as 1.0 in one place and NaN in another. A caller that wants a number instead passes
``zero_division=1.0`` (or 0.0). Surface distances are in the units of ``spacing`` (mm per pixel; pixels when it
is 1).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import ndimage

from core.errors import InputError
from core.evaluation._validation import UndefinedMetricWarning


def _check_pair(mask_true, mask_pred) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(mask_true)
    b = np.asarray(mask_pred)
    if a.shape != b.shape:
        raise InputError(f"masks differ in shape: truth {a.shape} vs prediction {b.shape}")
    if a.ndim < 1 or a.size == 0:
        raise InputError(f"masks are empty arrays (shape {a.shape})")
    return a.astype(bool), b.astype(bool)


def _ratio(num: float, den: float, name: str, zero_division: float) -> float:
    if den == 0:
        warnings.warn(f"{name} is undefined here (zero denominator); returning {zero_division}",
                      UndefinedMetricWarning, stacklevel=3)
        return float(zero_division)
    return float(num) / float(den)


def confusion_counts(mask_true, mask_pred) -> dict:
    """Pixel counts ``{"tp", "fp", "fn", "tn"}`` (non-zero = structure)."""
    t, p = _check_pair(mask_true, mask_pred)
    tp = int(np.count_nonzero(t & p))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(t & ~p))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": int(t.size - tp - fp - fn)}


def dice(mask_true, mask_pred, *, zero_division: float = math.nan) -> float:
    """Dice = 2 TP / (|S| + |GT|); two empty masks give ``zero_division`` (NaN) with a warning.

    >>> dice([[1, 1], [0, 0]], [[1, 0], [0, 0]])
    0.6666666666666666
    """
    c = confusion_counts(mask_true, mask_pred)
    return _ratio(2 * c["tp"], 2 * c["tp"] + c["fp"] + c["fn"], "dice", zero_division)


def iou(mask_true, mask_pred, *, zero_division: float = math.nan) -> float:
    """IoU (Jaccard) = TP / (TP + FP + FN); two empty masks give ``zero_division`` (NaN) with a warning.

    >>> iou([[1, 1], [0, 0]], [[1, 0], [1, 0]])
    0.3333333333333333
    """
    c = confusion_counts(mask_true, mask_pred)
    return _ratio(c["tp"], c["tp"] + c["fp"] + c["fn"], "iou", zero_division)


def precision(mask_true, mask_pred, *, zero_division: float = math.nan) -> float:
    """Precision = TP / (TP + FP); undefined when the prediction is empty."""
    c = confusion_counts(mask_true, mask_pred)
    return _ratio(c["tp"], c["tp"] + c["fp"], "precision", zero_division)


def recall(mask_true, mask_pred, *, zero_division: float = math.nan) -> float:
    """Recall (sensitivity) = TP / (TP + FN); undefined when the truth is empty."""
    c = confusion_counts(mask_true, mask_pred)
    return _ratio(c["tp"], c["tp"] + c["fn"], "recall", zero_division)


def _spacing(spacing, ndim: int) -> tuple:
    sp = np.broadcast_to(np.asarray(spacing, dtype=float), (ndim,)) if np.ndim(spacing) <= 1 else None
    if sp is None or sp.shape != (ndim,) or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise InputError(f"spacing must be a positive number or one per axis ({ndim}), got {spacing!r}")
    return tuple(float(s) for s in sp)


def _surface(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels: mask pixels with a background neighbour (8/26-connectivity), image border included."""
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def surface_distances(mask_true, mask_pred, *, spacing=1.0) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each predicted boundary pixel to the true boundary, and from each true to the predicted.

    Raises nothing for empty masks: returns two empty arrays when either mask is empty.
    """
    t, p = _check_pair(mask_true, mask_pred)
    sp = _spacing(spacing, t.ndim)
    if not t.any() or not p.any():
        return np.empty(0), np.empty(0)
    st, sp_ = _surface(t), _surface(p)
    to_true = ndimage.distance_transform_edt(~st, sampling=sp)
    to_pred = ndimage.distance_transform_edt(~sp_, sampling=sp)
    return to_true[sp_], to_pred[st]


def _distance_metric(mask_true, mask_pred, spacing, name, reduce) -> float:
    d_pred, d_true = surface_distances(mask_true, mask_pred, spacing=spacing)
    if d_pred.size == 0 or d_true.size == 0:
        warnings.warn(f"{name} is undefined when a mask is empty; returning nan", UndefinedMetricWarning,
                      stacklevel=3)
        return math.nan
    return float(reduce(d_pred, d_true))


def hausdorff95(mask_true, mask_pred, *, spacing=1.0) -> float:
    """95th percentile of the symmetric boundary distances (both directions pooled).

    The boundary is the mask minus its erosion by the full 8-neighbour (2-D) / 26-neighbour (3-D) structuring
    element (a pixel with any background neighbour, diagonal included), so it equals MedPy's ``hd95`` only
    with ``connectivity=mask.ndim``; MedPy's default ``connectivity=1`` erodes with the 4/6-neighbour cross
    and keeps only pixels with an edge-sharing background neighbour (a thinner boundary, other values).
    In mm when ``spacing`` is mm per pixel. NaN with a warning when either mask is empty.
    """
    return _distance_metric(mask_true, mask_pred, spacing, "hausdorff95",
                            lambda a, b: np.percentile(np.concatenate([a, b]), 95))


def mean_surface_distance(mask_true, mask_pred, *, spacing=1.0) -> float:
    """Average symmetric surface distance: mean of both directions' boundary distances pooled."""
    return _distance_metric(mask_true, mask_pred, spacing, "mean_surface_distance",
                            lambda a, b: np.concatenate([a, b]).mean())


def segmentation_scores(mask_true, mask_pred, *, spacing=None) -> dict:
    """All overlap metrics in one dict; with ``spacing`` also ``hd95_mm`` and ``msd_mm``.

    Empty-mask cases give NaN values with warnings, so a batch never stops at one odd case.
    """
    out = {"dice": dice(mask_true, mask_pred), "iou": iou(mask_true, mask_pred),
           "precision": precision(mask_true, mask_pred), "recall": recall(mask_true, mask_pred)}
    if spacing is not None:
        out["hd95_mm"] = hausdorff95(mask_true, mask_pred, spacing=spacing)
        out["msd_mm"] = mean_surface_distance(mask_true, mask_pred, spacing=spacing)
    return out
