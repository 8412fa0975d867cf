"""DeLong's AUC variance, confidence interval and paired test, by the fast midrank algorithm.

Why hand-written: scikit-learn has no AUC variance. DeLong et al. (1988) give the nonparametric covariance of
correlated AUCs from the "structural components" V10 (each positive case's share of negatives it outranks)
and V01 (each negative's share of positives that outrank it). Computed pairwise that is O(m·n) — hours for a
million scores. Sun & Xu (2014, IEEE SPL 21:1389) show the components follow from midranks:
V10_i = (Z_i - X_i) / n and V01_j = 1 - (Z_j - Y_j) / m, where Z is a case's midrank among all cases and X, Y
its midrank among the positives resp. negatives; midranks make ties count one half, as in the Mann-Whitney
statistic. Ranking is O(N log N).
"""

from __future__ import annotations

import math

import numpy as np
from statistics import NormalDist

from core.evaluation._validation import (
    both_classes, check_binary_pair, check_binary_truth, check_confidence, check_scores, undefined,
)
from core.errors import InputError

_STD_NORMAL = NormalDist()   # stdlib normal quantiles (AS241): scipy.stats costs seconds to import on a CLI run


def _z(q: float) -> float:
    return _STD_NORMAL.inv_cdf(q)


def _two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


def _midranks_sorted(v: np.ndarray) -> np.ndarray:
    """1-based midranks of an already sorted vector: a tie block at positions a..b-1 gets (a + 1 + b) / 2."""
    new = np.empty(v.size, dtype=bool)
    new[0] = True
    np.not_equal(v[1:], v[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], v.size)
    return np.repeat((starts + ends + 1) / 2.0, ends - starts)


def _components(y_true: np.ndarray, scores: np.ndarray):
    """AUCs (k,), V10 (k, m) and V01 (k, n) for a (k, N) stack of score vectors.

    One sort per score vector: the combined midranks Z come from the sorted scores, and the within-class
    midranks X (positives) and Y (negatives) from the same sorted order restricted to each class, which is
    itself sorted. Components are scattered back to case order so that two scores' components line up.
    """
    is_pos = y_true == 1
    m = int(is_pos.sum())
    n = y_true.size - m
    within = np.empty(y_true.size, dtype=np.int64)   # case -> its index among its own class
    within[is_pos] = np.arange(m)
    within[~is_pos] = np.arange(n)
    k = scores.shape[0]
    aucs, v10, v01 = np.empty(k), np.empty((k, m)), np.empty((k, n))
    for r in range(k):
        order = np.argsort(scores[r])
        z_sorted = scores[r][order]
        tz = _midranks_sorted(z_sorted)
        pos_sorted = is_pos[order]
        p_cases, n_cases = order[pos_sorted], order[~pos_sorted]
        tx = _midranks_sorted(z_sorted[pos_sorted])
        ty = _midranks_sorted(z_sorted[~pos_sorted])
        v10[r, within[p_cases]] = (tz[pos_sorted] - tx) / n
        v01[r, within[n_cases]] = 1.0 - (tz[~pos_sorted] - ty) / m
        aucs[r] = (tz[pos_sorted].sum() - m * (m + 1) / 2.0) / (m * n)
    return aucs, v10, v01


def delong_covariance(y_true, *y_scores, pos_label=None) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix for one or more score vectors on the same cases.

    Parameters
    ----------
    y_true : array-like of 0/1, or two labels with ``pos_label``
    *y_scores : array-like of float
        One or more score vectors (higher = more likely positive), each as long as ``y_true``.

    Returns
    -------
    aucs : ndarray of shape (k,)
    cov : ndarray of shape (k, k)
        ``S10 / m + S01 / n`` with sample covariances (ddof = 1) of the structural components.
        NaN (with a warning) when a class has fewer than two cases.

    Examples
    --------
    >>> aucs, cov = delong_covariance([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> float(aucs[0])
    0.75
    """
    if not y_scores:
        raise InputError("delong_covariance needs at least one score vector")
    t = check_binary_truth(y_true, pos_label=pos_label)
    stack = np.empty((len(y_scores), t.size), dtype=np.float64)
    for i, s in enumerate(y_scores):
        name = "y_score" if len(y_scores) == 1 else f"y_score{i + 1}"
        v = check_scores(s, name=name)
        if v.size != t.size:
            raise InputError(f"y_true has {t.size} values but {name} has {v.size}")
        stack[i] = v
    k = stack.shape[0]
    if not both_classes(t, "the AUC"):
        return np.full(k, math.nan), np.full((k, k), math.nan)
    aucs, v10, v01 = _components(t, stack)
    m, n = v10.shape[1], v01.shape[1]
    if m < 2 or n < 2:
        undefined(f"the DeLong variance needs at least two cases per class (got {m} positive, {n} negative)")
        return aucs, np.full((k, k), math.nan)
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, cov


def _ci(auc: float, var: float, confidence: float) -> tuple[float, float]:
    if not (math.isfinite(auc) and math.isfinite(var)):
        return math.nan, math.nan
    z = _z(0.5 + confidence / 2.0)
    half = z * math.sqrt(max(var, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def delong_ci(y_true, y_score, *, confidence: float = 0.95, pos_label=None) -> dict:
    """AUC with its DeLong variance and normal-approximation CI (clipped to [0, 1], as pROC does).

    Returns
    -------
    dict
        ``auc``, ``variance``, ``se``, ``ci_low``, ``ci_high``, ``n``, ``n_pos``.

    Examples
    --------
    >>> r = delong_ci([0, 0, 0, 1, 1, 1], [0.1, 0.3, 0.5, 0.4, 0.7, 0.9])
    >>> round(r["auc"], 4)
    0.8889
    """
    c = check_confidence(confidence)
    t, s = check_binary_pair(y_true, y_score, pos_label=pos_label)
    aucs, cov = delong_covariance(t, s)
    auc, var = float(aucs[0]), float(cov[0, 0])
    low, high = _ci(auc, var, c)
    return {"auc": auc, "variance": var, "se": math.sqrt(var) if math.isfinite(var) else math.nan,
            "ci_low": low, "ci_high": high, "n": int(t.size), "n_pos": int(t.sum())}


def delong_test(y_true, y_score1, y_score2, *, confidence: float = 0.95, pos_label=None) -> dict:
    """DeLong's test of two correlated AUCs (two scores on the same cases), two-sided.

    z = (AUC1 - AUC2) / sqrt(V1 + V2 - 2 C12), p = 2 (1 - Phi(|z|)).

    Returns
    -------
    dict
        ``auc1``, ``auc2``, ``ci1``, ``ci2`` (lists), ``difference``, ``difference_ci``, ``variance1``,
        ``variance2``, ``covariance``, ``z``, ``p_value``, ``n``, ``n_pos``. ``z`` and ``p_value`` are NaN
        with a warning when the difference has zero variance (e.g. identical scores).

    Examples
    --------
    >>> r = delong_test([0, 0, 0, 1, 1, 1], [0.1, 0.3, 0.5, 0.4, 0.7, 0.9], [0.2, 0.1, 0.6, 0.5, 0.4, 0.8])
    >>> round(r["auc1"], 4), round(r["auc2"], 4)
    (0.8889, 0.7778)
    """
    c = check_confidence(confidence)
    t = check_binary_truth(y_true, pos_label=pos_label)
    aucs, cov = delong_covariance(t, y_score1, y_score2)
    diff = float(aucs[0] - aucs[1])
    var_diff = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    if math.isfinite(var_diff) and var_diff > 1e-15:
        z = diff / math.sqrt(var_diff)
        p = _two_sided_p(z)
        zc = _z(0.5 + c / 2.0)
        diff_ci = [diff - zc * math.sqrt(var_diff), diff + zc * math.sqrt(var_diff)]
    else:
        if math.isfinite(var_diff):
            undefined("the DeLong test is undefined: the AUC difference has zero variance (identical rankings?)")
        z = p = math.nan
        diff_ci = [math.nan, math.nan]
    return {
        "auc1": float(aucs[0]), "auc2": float(aucs[1]),
        "ci1": list(_ci(float(aucs[0]), float(cov[0, 0]), c)), "ci2": list(_ci(float(aucs[1]), float(cov[1, 1]), c)),
        "difference": diff, "difference_ci": diff_ci,
        "variance1": float(cov[0, 0]), "variance2": float(cov[1, 1]), "covariance": float(cov[0, 1]),
        "z": z, "p_value": p, "n": int(t.size), "n_pos": int(t.sum()),
    }


def auc_midrank(y_true, y_score) -> float:
    """AUC (Mann-Whitney, ties = 1/2) from midranks, without validation: the bootstrap's inner loop.

    ``y_true`` must already be a 0/1 array and ``y_score`` a float array; NaN when a class is absent.
    """
    y_true = np.asarray(y_true)
    m = int(y_true.sum())
    n = y_true.size - m
    if m == 0 or n == 0:
        return math.nan
    from scipy.stats import rankdata

    r = rankdata(y_score)
    return float((r[y_true == 1].sum() - m * (m + 1) / 2.0) / (m * n))
