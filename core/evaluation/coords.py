"""ROC coordinates the way R's pROC reads them: direction, interpolated operating points, bootstrap CIs.

Why a second ROC module: :mod:`core.evaluation.roc` wraps scikit-learn's curve, which only knows "higher score =
positive" and whose operating points are the empirical corners (a specificity between two corners gets the
corner below it, and the threshold can be ``inf``). Reviewers compare with pROC, whose conventions are:

- ``direction``: ``"<"`` (controls score lower; a case is positive when its score is above the threshold),
  ``">"`` (the reverse) or ``"auto"`` (``">"`` when the controls' median exceeds the cases' median, as
  ``pROC::roc`` decides);
- thresholds are the midpoints between consecutive distinct scores, plus -inf and +inf;
- ``coords(x=0.9, input="specificity")`` interpolates the sensitivity linearly between the two curve points
  around specificity 0.9 (its threshold is then NaN: no single cut-off achieves it); at an exact match with
  several points it takes the best one (the highest sensitivity, resp. the highest specificity);
- ``ci.se``/``ci.sp``/``ci.coords``/``ci.auc(method="bootstrap")`` are percentile intervals (R's type-7
  quantile, numpy's default) over bootstrap replicates that resample cases and controls separately
  (``stratified=True``, pROC's default) or all patients together.

The bootstrap intervals (``ci_coords``, ``ci_se``, ``ci_sp``, ``ci_auc_bootstrap``) live in
:mod:`core.evaluation.coords_ci`, which builds on this module (``from core.evaluation import ci_coords``
finds them there too).
"""

from __future__ import annotations

import math

import numpy as np

from core.evaluation._validation import both_classes, check_binary_pair, check_choice, check_fraction, show
from core.errors import InputError

DIRECTIONS = ("auto", "<", ">")
INPUTS = ("specificity", "sensitivity", "threshold")


def resolve_direction(y_true: np.ndarray, y_score: np.ndarray, direction: str = "auto") -> str:
    """``"<"`` or ``">"``; ``"auto"`` follows pROC: ``">"`` when median(controls) > median(cases)."""
    check_choice(direction, DIRECTIONS, name="direction")
    if direction != "auto":
        return direction
    controls, cases = y_score[y_true == 0], y_score[y_true == 1]
    if controls.size == 0 or cases.size == 0:
        return "<"
    return ">" if float(np.median(controls)) > float(np.median(cases)) else "<"


def oriented(y_score: np.ndarray, direction: str) -> np.ndarray:
    """Scores turned so that higher always means "more likely a case" (``">"`` negates them)."""
    return -y_score if direction == ">" else y_score


def _midpoints(u: np.ndarray) -> np.ndarray:
    """pROC's thresholds: -inf, the midpoints of consecutive distinct values, +inf (a rounding guard keeps
    each midpoint strictly below the value above it, so ``score > threshold`` separates them)."""
    with np.errstate(over="ignore"):
        mid = u[:-1] / 2.0 + u[1:] / 2.0
    bad = mid >= u[1:]
    mid[bad] = u[:-1][bad]
    return np.concatenate([[-np.inf], mid, [np.inf]])


def roc_points(t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sensitivity, specificity and threshold of every distinct cut-off, in increasing specificity.

    ``t`` is 0/1 and ``s`` already oriented (higher = case); a case is called positive when ``s > threshold``.
    One sort, O(N log N). The first point is (se 1, sp 0, -inf) and the last (se 0, sp 1, +inf).
    """
    order = np.argsort(s, kind="mergesort")
    ss, tt = s[order], t[order]
    last = np.flatnonzero(np.r_[ss[1:] != ss[:-1], True])        # last index of each block of equal scores
    u = ss[last]
    pos_cum = np.cumsum(tt, dtype=np.int64)[last]                  # cases with score <= u_k
    neg_cum = (last + 1) - pos_cum                                  # controls with score <= u_k
    m, n = int(pos_cum[-1]), int(neg_cum[-1])
    se = np.concatenate([[1.0], (m - pos_cum) / m])
    sp = np.concatenate([[0.0], neg_cum / n])
    return se, sp, _midpoints(u)


def _interp(x: float, inp: np.ndarray, other: np.ndarray, *, increasing: bool) -> float:
    """pROC's coords interpolation of ``other`` at ``inp == x`` (``inp`` monotone along the curve)."""
    hits = np.flatnonzero(inp == x)
    if hits.size:
        return float(other[hits[0] if increasing else hits[-1]])
    nxt = int(np.argmax(inp > x)) if increasing else int(np.argmax(inp < x))
    prop = (x - inp[nxt]) / (inp[nxt - 1] - inp[nxt])
    return float(other[nxt] + prop * (other[nxt - 1] - other[nxt]))


def _at(se: np.ndarray, sp: np.ndarray, thr: np.ndarray, x: float, inp: str, s=None) -> tuple[float, float, float]:
    """(sensitivity, specificity, threshold) of one requested coordinate; threshold NaN when interpolated.

    With ``inp == "threshold"`` a case is positive when its oriented score is >= x (pROC: controls < t <= cases),
    i.e. the curve point after the distinct scores below x; ``s`` are the oriented scores.
    """
    if inp == "specificity":
        hits = np.flatnonzero(sp == x)
        return _interp(x, sp, se, increasing=True), x, (float(thr[hits[0]]) if hits.size else math.nan)
    if inp == "sensitivity":
        hits = np.flatnonzero(se == x)
        return x, _interp(x, se, sp, increasing=False), (float(thr[hits[-1]]) if hits.size else math.nan)
    k = int(np.searchsorted(np.unique(s), x, side="left"))       # distinct scores below x
    return float(se[k]), float(sp[k]), x


def _prepare(y_true, y_score, pos_label, direction):
    t, s = check_binary_pair(y_true, y_score, pos_label=pos_label)
    d = resolve_direction(t, s, direction)
    return t, oriented(s, d), d


def _values(x, name: str, *, fraction: bool) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(x, dtype=object))
    out = np.empty(arr.size)
    for i, v in enumerate(arr):
        out[i] = check_fraction(v, name=name) if fraction else _number(v, name)
    return out


def _number(v, name):
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{name} = {show(v)} is not a number") from None
    if math.isnan(f):
        raise InputError(f"{name} is NaN")
    return f


def coords(y_true, y_score, x, *, input: str = "specificity", direction: str = "auto", pos_label=None) -> dict:
    """Sensitivity and specificity at given specificities, sensitivities or thresholds (pROC ``coords``).

    Parameters
    ----------
    y_true : array-like of 0/1, or two labels with ``pos_label``
    y_score : array-like of float
    x : float or sequence of float
        The requested values of ``input``.
    input : {"specificity", "sensitivity", "threshold"}
        With "threshold" a case is positive when its (oriented) score exceeds ``x``.
    direction : {"auto", "<", ">"}

    Returns
    -------
    dict
        ``sensitivity``, ``specificity``, ``threshold`` (lists, one entry per ``x``; threshold NaN where
        interpolated), ``direction`` (the one used). NaN with a warning when a class is absent.

    Examples
    --------
    >>> r = coords([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.8], 0.75, input="specificity")
    >>> r["sensitivity"], r["direction"]
    ([0.75], '<')
    """
    check_choice(input, INPUTS, name="input")
    xs = _values(x, input, fraction=input != "threshold")
    t, s, d = _prepare(y_true, y_score, pos_label, direction)
    if not both_classes(t, "the ROC coordinates"):
        nan = [math.nan] * xs.size
        return {"sensitivity": nan, "specificity": list(nan), "threshold": list(nan), "direction": d}
    se, sp, thr = roc_points(t, s)
    if input == "threshold" and d == ">":
        xs = -xs
    rows = [_at(se, sp, thr, float(v), input, s) for v in xs]
    sign = -1.0 if d == ">" else 1.0
    return {"sensitivity": [r[0] for r in rows], "specificity": [r[1] for r in rows],
            "threshold": [sign * r[2] for r in rows], "direction": d}


def pauc_from_points(se: np.ndarray, sp: np.ndarray, lo: float, hi: float, *, focus: str = "specificity",
                     correct: bool = False) -> float:
    """pROC's partial AUC between ``lo`` and ``hi`` of specificity (or sensitivity) of one curve.

    The area is ``integral of se d(sp)`` over sp in [lo, hi] (focus "specificity") or ``integral of sp
    d(se)`` over se in [lo, hi]; ``correct=True`` applies McClish's standardisation
    ``(1 + (A - min) / (max - min)) / 2`` where min is the chance diagonal's area and max = hi - lo.
    """
    if focus == "specificity":
        x, y = 1.0 - sp[::-1], se[::-1]          # fpr ascending, tpr
    else:
        x, y = 1.0 - se, sp                      # fnr ascending, tnr
    a, b = 1.0 - hi, 1.0 - lo
    x0, x1, y0, y1 = x[:-1], x[1:], y[:-1], y[1:]
    ca, cb = np.maximum(x0, a), np.minimum(x1, b)
    keep = (cb > ca) & (x1 > x0)
    x0, x1, y0, y1, ca, cb = (v[keep] for v in (x0, x1, y0, y1, ca, cb))
    slope = (y1 - y0) / (x1 - x0)
    area = float(np.sum((y0 + slope * (ca - x0) + y0 + slope * (cb - x0)) / 2.0 * (cb - ca)))
    if not correct:
        return area
    min_area = 0.5 * (b * b - a * a)
    max_area = b - a
    return 0.5 * (1.0 + (area - min_area) / (max_area - min_area))


def _range(limits, name):
    try:
        lo, hi = sorted(float(v) for v in limits)
    except (TypeError, ValueError):
        raise InputError(f"{name} = {show(limits)} must be two numbers, e.g. (0.9, 1.0)") from None
    check_fraction(lo, name=f"{name} low")
    check_fraction(hi, name=f"{name} high")
    if not hi > lo:
        raise InputError(f"{name} = {show(limits)}: the two limits must differ")
    return lo, hi


def partial_auc_proc(y_true, y_score, *, limits=(0.9, 1.0), focus: str = "specificity", correct: bool = False,
                     direction: str = "auto", pos_label=None) -> float:
    """Partial AUC over a specificity (or sensitivity) range, as ``pROC::auc(partial.auc=, partial.auc.focus=,
    partial.auc.correct=)``. ``limits`` may be given in either order.

    Examples
    --------
    >>> round(partial_auc_proc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], limits=(0.5, 1.0)), 4)
    0.25
    """
    check_choice(focus, ("specificity", "sensitivity"), name="focus")
    lo, hi = _range(limits, "limits")
    t, s, _ = _prepare(y_true, y_score, pos_label, direction)
    if not both_classes(t, "the partial AUC"):
        return math.nan
    se, sp, _ = roc_points(t, s)
    return pauc_from_points(se, sp, lo, hi, focus=focus, correct=correct)
