"""Many bootstrap ROC curves at once: pROC's operating points and partial areas for a (replicates, cases) matrix.

Why: ``ci.se``, ``ci.sp`` and bootstrap (partial) AUC CIs need 2000 curves. Built one by one in Python that is
2000 sorts and 2000 small-array passes (about a millisecond each); here one row-wise sort of the resampled
scores gives every replicate's curve as masked (B, N + 1) arrays, and interpolation and clipped trapezoids
are evaluated element-wise. Rows follow :func:`core.evaluation.coords.roc_points` exactly: point 0 is
(se 1, sp 0); point k (k >= 1) is valid where sorted score k - 1 ends a block of equal scores.
"""

from __future__ import annotations

import numpy as np

CHUNK_CELLS = 2_000_000


def curves(t: np.ndarray, s: np.ndarray, idx: np.ndarray):
    """(se, sp, valid, prev, lacking) for the replicates ``idx`` (B, N) of 0/1 ``t`` and oriented ``s``.

    ``prev[:, k]`` is the last valid point before k; ``lacking`` marks rows without both classes.
    """
    sb, tb = s[idx], t[idx]
    order = np.argsort(sb, axis=1, kind="stable")
    ss = np.take_along_axis(sb, order, axis=1)
    tt = np.take_along_axis(tb, order, axis=1).astype(np.float64)
    b, n_cases = ss.shape
    ends = np.ones((b, n_cases), dtype=bool)
    ends[:, :-1] = ss[:, 1:] != ss[:, :-1]
    pos = np.cumsum(tt, axis=1)
    neg = np.arange(1, n_cases + 1)[None, :] - pos
    m, n = pos[:, -1:], neg[:, -1:]
    lacking = (m[:, 0] == 0) | (n[:, 0] == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.concatenate([np.ones((b, 1)), (m - pos) / m], axis=1)
        sp = np.concatenate([np.zeros((b, 1)), neg / n], axis=1)
    valid = np.concatenate([np.ones((b, 1), dtype=bool), ends], axis=1)
    where = np.where(valid, np.arange(n_cases + 1)[None, :], -1)
    upto = np.maximum.accumulate(where, axis=1)
    prev = np.concatenate([np.full((b, 1), -1), upto[:, :-1]], axis=1)
    return se, sp, valid, prev, lacking


def _take(a, k):
    return np.take_along_axis(a, k[:, None], axis=1)[:, 0]


def se_at_sp(se, sp, valid, prev, x: float) -> np.ndarray:
    """Sensitivity at specificity x per row: exact point (the first, highest sensitivity) or interpolation."""
    k = np.argmax(valid & (sp >= x), axis=1)
    sk, ek = _take(sp, k), _take(se, k)
    p = np.maximum(_take(prev, k), 0)
    sq, eq = _take(sp, p), _take(se, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        inter = ek + (x - sk) / (sq - sk) * (eq - ek)
    return np.where(sk == x, ek, inter)


def sp_at_se(se, sp, valid, prev, x: float) -> np.ndarray:
    """Specificity at sensitivity x per row: exact point (the last, highest specificity) or interpolation."""
    cond = valid & (se < x)
    has = cond.any(axis=1)
    k = np.where(has, np.argmax(cond, axis=1), se.shape[1] - 1)
    p = np.maximum(_take(prev, k), 0)
    sk, ek, sq, eq = _take(sp, k), _take(se, k), _take(sp, p), _take(se, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        inter = sk + (x - ek) / (eq - ek) * (sq - sk)
    out = np.where(eq == x, sq, inter)
    return np.where(has, out, sk)


def partial_area(se, sp, valid, prev, lo: float, hi: float, *, focus: str = "specificity",
                 correct: bool = False) -> np.ndarray:
    """pROC's partial AUC per row (see :func:`core.evaluation.coords.pauc_from_points`)."""
    p = np.maximum(prev[:, 1:], 0)
    ok = valid[:, 1:]
    if focus == "specificity":       # integral of se d(sp), sp ascending along the curve
        x0, x1 = np.take_along_axis(sp, p, axis=1), sp[:, 1:]
        y0, y1 = np.take_along_axis(se, p, axis=1), se[:, 1:]
    else:                            # integral of sp d(se), se descending along the curve: reverse each segment
        x0, x1 = se[:, 1:], np.take_along_axis(se, p, axis=1)
        y0, y1 = sp[:, 1:], np.take_along_axis(sp, p, axis=1)
    ca, cb = np.maximum(x0, lo), np.minimum(x1, hi)
    keep = ok & (cb > ca) & (x1 > x0)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(keep, (y1 - y0) / np.where(x1 > x0, x1 - x0, 1.0), 0.0)
    piece = (2 * y0 + slope * (ca - x0) + slope * (cb - x0)) / 2.0 * (cb - ca)
    area = np.where(keep, piece, 0.0).sum(axis=1)
    if not correct:
        return area
    a, b = 1.0 - hi, 1.0 - lo
    min_area, max_area = 0.5 * (b * b - a * a), b - a
    return 0.5 * (1.0 + (area - min_area) / (max_area - min_area))


def chunks(n_boot: int, n_cases: int):
    """Replicate slices whose (replicates x cases) matrices stay near CHUNK_CELLS."""
    step = max(1, CHUNK_CELLS // max(1, n_cases))
    return [slice(lo, min(n_boot, lo + step)) for lo in range(0, n_boot, step)]
