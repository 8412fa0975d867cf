"""ROC and precision-recall curves and the operating points read off them.

Why wrappers around scikit-learn: the curves themselves come from ``sklearn.metrics``; what we add is entry
validation with readable messages, NaN + warning for a one-class subgroup (instead of an exception halfway
through a per-week table), and the clinical read-outs: Youden's threshold, sensitivity at a fixed
specificity and vice versa, and the partial AUC over a false-positive-rate range.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

from core.evaluation._validation import both_classes, check_binary_pair, check_choice, check_fraction, show
from core.evaluation.coords import coords, oriented, resolve_direction, roc_points
from core.errors import InputError


def roc_curve(y_true, y_score, *, pos_label=None, drop_intermediate: bool = False) -> dict:
    """ROC curve points (scikit-learn) and the AUC.

    Returns
    -------
    dict
        ``fpr``, ``tpr``, ``thresholds`` (ndarrays; a case is positive when ``score >= threshold``) and
        ``auc``. Empty curves and NaN AUC, with a warning, when one class is absent.

    Examples
    --------
    >>> r = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> r["auc"]
    0.75
    """
    t, s = check_binary_pair(y_true, y_score, pos_label=pos_label)
    if not both_classes(t, "the ROC curve"):
        empty = np.array([], dtype=float)
        return {"fpr": empty, "tpr": empty, "thresholds": empty, "auc": math.nan}
    fpr, tpr, thr = skm.roc_curve(t, s, drop_intermediate=drop_intermediate)
    return {"fpr": fpr, "tpr": tpr, "thresholds": thr, "auc": float(skm.roc_auc_score(t, s))}


def roc_auc(y_true, y_score, *, pos_label=None) -> float:
    """Area under the ROC curve (scikit-learn); NaN with a warning when one class is absent.

    Examples
    --------
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    t, s = check_binary_pair(y_true, y_score, pos_label=pos_label)
    if not both_classes(t, "the AUC"):
        return math.nan
    return float(skm.roc_auc_score(t, s))


def pr_curve(y_true, y_score, *, pos_label=None) -> dict:
    """Precision-recall curve (scikit-learn), average precision and the prevalence (the chance line).

    Examples
    --------
    >>> r = pr_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> round(r["average_precision"], 4), r["prevalence"]
    (0.8333, 0.5)
    """
    t, s = check_binary_pair(y_true, y_score, pos_label=pos_label)
    prevalence = float(t.mean())
    if int(t.sum()) == 0:
        both_classes(t, "the precision-recall curve")
        empty = np.array([], dtype=float)
        return {"precision": empty, "recall": empty, "thresholds": empty, "average_precision": math.nan,
                "prevalence": prevalence}
    precision, recall, thr = skm.precision_recall_curve(t, s)
    return {"precision": precision, "recall": recall, "thresholds": thr,
            "average_precision": float(skm.average_precision_score(t, s)), "prevalence": prevalence}


def youden_threshold(y_true, y_score, *, pos_label=None) -> dict:
    """The threshold maximising Youden's J = sensitivity + specificity - 1.

    Ties are broken towards the higher threshold (fewer positive calls). Returns ``threshold``, ``j``,
    ``sensitivity``, ``specificity``.

    Examples
    --------
    >>> youden_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])["threshold"]
    0.8
    """
    r = roc_curve(y_true, y_score, pos_label=pos_label)
    if r["fpr"].size == 0:
        return {"threshold": math.nan, "j": math.nan, "sensitivity": math.nan, "specificity": math.nan}
    fpr, tpr, thr = r["fpr"][1:], r["tpr"][1:], r["thresholds"][1:]   # drop sklearn's +inf start point
    j = tpr - fpr
    i = int(np.argmax(j))   # thresholds decrease along the curve, so the first maximum is the highest one
    return {"threshold": float(thr[i]), "j": float(j[i]), "sensitivity": float(tpr[i]),
            "specificity": float(1.0 - fpr[i])}


OPERATING_METHODS = ("interpolate", "empirical")


def sensitivity_at_specificity(y_true, y_score, *, specificity: float, method: str = "interpolate",
                               direction: str = "<", pos_label=None) -> dict:
    """Sensitivity at a fixed specificity.

    ``method="interpolate"`` (default) reads the ROC curve as pROC's ``coords(x=, input="specificity")`` does:
    linear interpolation between the two curve points around the target (the threshold is then NaN: no
    single cut-off reaches exactly that specificity). ``method="empirical"`` returns the best achievable
    point, the highest sensitivity among cut-offs whose specificity is at least the target, with its
    (finite) threshold: what a clinician can actually operate at. ``direction`` as in
    :func:`core.evaluation.coords.coords` (default: higher score = positive).

    Returns ``sensitivity``, ``specificity`` (achieved), ``threshold``, ``method``.

    Examples
    --------
    >>> sensitivity_at_specificity([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.8], specificity=0.75)["sensitivity"]
    0.75
    >>> sensitivity_at_specificity([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.8], specificity=0.75, method="empirical")
    {'sensitivity': 0.5, 'specificity': 1.0, 'threshold': 0.65, 'method': 'empirical'}
    """
    return _operating_point(y_true, y_score, specificity, "specificity", method, direction, pos_label)


def specificity_at_sensitivity(y_true, y_score, *, sensitivity: float, method: str = "interpolate",
                               direction: str = "<", pos_label=None) -> dict:
    """Specificity at a fixed sensitivity; ``method`` and ``direction`` as in :func:`sensitivity_at_specificity`.

    Examples
    --------
    >>> specificity_at_sensitivity([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], sensitivity=1.0)["specificity"]
    0.5
    """
    return _operating_point(y_true, y_score, sensitivity, "sensitivity", method, direction, pos_label)


def _operating_point(y_true, y_score, target, given: str, method: str, direction: str, pos_label) -> dict:
    check_choice(method, OPERATING_METHODS, name="method")
    target = check_fraction(target, name=given)
    t, s = check_binary_pair(y_true, y_score, pos_label=pos_label)
    nan = {"sensitivity": math.nan, "specificity": math.nan, "threshold": math.nan, "method": method}
    if method == "interpolate":
        r = coords(t, s, target, input=given, direction=direction)
        return {"sensitivity": r["sensitivity"][0], "specificity": r["specificity"][0],
                "threshold": r["threshold"][0], "method": method}
    d = resolve_direction(t, s, direction)
    if not both_classes(t, f"the {'sensitivity' if given == 'specificity' else 'specificity'} at a fixed {given}"):
        return nan
    se, sp, thr = roc_points(t, oriented(s, d))
    fixed, free = (sp, se) if given == "specificity" else (se, sp)
    ok = np.flatnonzero(fixed >= target - 1e-12)
    best = ok[free[ok] == free[ok].max()]
    inner = best[(best > 0) & (best < se.size - 1)]     # prefer a finite cut-off among equally good points
    i = int(inner[0] if inner.size else best[0])
    sign = -1.0 if d == ">" else 1.0
    return {"sensitivity": float(se[i]), "specificity": float(sp[i]), "threshold": sign * float(thr[i]),
            "method": method}


def partial_auc(y_true, y_score, *, fpr_range=(0.0, 0.2), standardized: bool = False, pos_label=None) -> float:
    """Area under the ROC curve between two false-positive rates (linear interpolation between points).

    With ``standardized=True`` the McClish (1989) correction maps it to [0.5, 1] (0.5 = chance, 1 = perfect),
    the scale scikit-learn's ``roc_auc_score(max_fpr=...)`` uses when the range starts at 0.

    Examples
    --------
    >>> round(partial_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], fpr_range=(0.0, 0.5)), 4)
    0.25
    """
    try:
        lo, hi = (float(v) for v in fpr_range)
    except (TypeError, ValueError):
        raise InputError(f"fpr_range = {show(fpr_range)} must be two numbers (low, high)") from None
    check_fraction(lo, name="fpr_range low")
    check_fraction(hi, name="fpr_range high")
    if not hi > lo:
        raise InputError(f"fpr_range = {show(fpr_range)}: high must exceed low")
    r = roc_curve(y_true, y_score, pos_label=pos_label)
    if r["fpr"].size == 0:
        return math.nan
    # Sum the trapezoids of every curve segment clipped to [lo, hi]; vertical segments have zero width.
    x0, x1, y0, y1 = r["fpr"][:-1], r["fpr"][1:], r["tpr"][:-1], r["tpr"][1:]
    a, b = np.maximum(x0, lo), np.minimum(x1, hi)
    keep = (b > a) & (x1 > x0)
    x0, x1, y0, y1, a, b = (v[keep] for v in (x0, x1, y0, y1, a, b))
    slope = (y1 - y0) / (x1 - x0)
    ya, yb = y0 + slope * (a - x0), y0 + slope * (b - x0)
    area = float(np.sum((ya + yb) / 2.0 * (b - a)))
    if not standardized:
        return area
    min_area = 0.5 * (hi * hi - lo * lo)   # the chance diagonal
    max_area = hi - lo                    # a perfect test
    return 0.5 * (1.0 + (area - min_area) / (max_area - min_area))
