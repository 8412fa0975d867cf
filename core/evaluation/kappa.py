"""Cohen's kappa, unweighted or weighted for ordinal ratings, with its large-sample SE and CI.

Why: two readers grading a scan 1-5 who differ by one grade agree more than two who differ by four; the
weighted kappa (Cohen 1968) credits that, with linear (1 - |i-j|/(k-1)) or quadratic (1 - (i-j)^2/(k-1)^2)
agreement weights. scikit-learn's ``cohen_kappa_score`` gives the point value but no uncertainty. The
standard error is Fleiss, Cohen & Everitt (1969, Psychol Bull 72:323): with cell proportions p_ij, margins
p_i. and p_.j, weighted row / column means wbar_i = sum_j p_.j w_ij and wbar_j = sum_i p_i. w_ij,

    var(kappa)   = [sum p_ij (w_ij - (wbar_i + wbar_j)(1 - kappa))^2 - (kappa - p_e (1 - kappa))^2] / (n (1 - p_e)^2)
    var_0(kappa) = [sum p_i. p_.j (w_ij - (wbar_i + wbar_j))^2 - p_e^2] / (n (1 - p_e)^2)       (under kappa = 0)

the CI uses var(kappa) and the test of kappa = 0 uses var_0, as ``statsmodels.stats.inter_rater.cohens_kappa``
(its ``std_kappa`` and ``std_kappa0``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from core.evaluation._validation import _as_1d, check_choice, check_confidence, show, undefined
from core.errors import InputError

WEIGHTS = (None, "linear", "quadratic")


def agreement_weights(k: int, weights: str | None) -> np.ndarray:
    """k x k agreement weights: identity (unweighted), linear or quadratic."""
    i, j = np.indices((k, k))
    if weights is None:
        return (i == j).astype(float)
    d = np.abs(i - j) / max(k - 1, 1)
    return 1.0 - (d if weights == "linear" else d * d)


def _table(rater1, rater2, labels):
    a = _as_1d(rater1, name="rater1")
    b = _as_1d(rater2, name="rater2")
    if a.size != b.size:
        raise InputError(f"rater1 has {a.size} ratings but rater2 has {b.size}")
    for name, arr in (("rater1", a), ("rater2", b)):
        for i, v in enumerate(arr.tolist()):
            if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
                raise InputError(f"{name}[{i}] is missing ({show(v)})")
    if labels is None:
        values = set(a.tolist()) | set(b.tolist())
        try:
            labels = sorted(values)
        except TypeError:
            labels = sorted(values, key=str)
    labels = list(labels)
    index = {v: k for k, v in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)))
    for i, (u, v) in enumerate(zip(a.tolist(), b.tolist())):
        if u not in index or v not in index:
            bad = u if u not in index else v
            raise InputError(f"rating {show(bad)} (case {i}) is not one of the labels {show(labels)}")
        table[index[u], index[v]] += 1
    return table, labels


def kappa_from_table(table, *, weights: str | None = None, confidence: float = 0.95) -> dict:
    """Kappa, SE, CI and the z test of kappa = 0 from a k x k table of counts (rows = rater 1).

    Examples
    --------
    >>> r = kappa_from_table([[20, 5], [10, 15]])
    >>> round(r["kappa"], 4), round(r["se"], 4)
    (0.4, 0.127)
    """
    check_choice(weights, WEIGHTS, name="weights")
    c = check_confidence(confidence)
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 1:
        raise InputError(f"kappa needs a square (categories x categories) table of counts; got shape {t.shape}")
    if not np.isfinite(t).all() or (t < 0).any():
        raise InputError("kappa: the table must hold finite, non-negative counts")
    n = float(t.sum())
    out = {"weights": weights, "n": int(n), "confidence": c}
    if n == 0:
        nan = undefined("kappa of no ratings is undefined")
        return {**out, "kappa": nan, "se": nan, "se0": nan, "ci_low": nan, "ci_high": nan, "z": nan, "p_value": nan}
    w = agreement_weights(t.shape[0], weights)
    p = t / n
    row, col = p.sum(axis=1), p.sum(axis=0)
    po, pe = float((w * p).sum()), float((w * np.outer(row, col)).sum())
    if math.isclose(pe, 1.0):
        nan = undefined("kappa is undefined: chance agreement is 1 (both raters used one category)")
        return {**out, "kappa": nan, "se": nan, "se0": nan, "ci_low": nan, "ci_high": nan, "z": nan, "p_value": nan}
    kappa = (po - pe) / (1.0 - pe)
    wr, wc = w @ col, row @ w                          # wbar_i. and wbar_.j
    both = wr[:, None] + wc[None, :]
    var = (float((p * (w - both * (1 - kappa)) ** 2).sum()) - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    var0 = (float((np.outer(row, col) * (w - both) ** 2).sum()) - pe ** 2) / (n * (1 - pe) ** 2)
    se, se0 = math.sqrt(max(var, 0.0)), math.sqrt(max(var0, 0.0))
    zq = float(stats.norm.ppf(0.5 + c / 2))
    z = kappa / se0 if se0 > 0 else math.nan
    return {**out, "kappa": kappa, "se": se, "se0": se0, "ci_low": kappa - zq * se, "ci_high": kappa + zq * se,
            "z": z, "p_value": float(2 * stats.norm.sf(abs(z))) if math.isfinite(z) else math.nan,
            "observed_agreement": po, "expected_agreement": pe}


def cohen_kappa(rater1, rater2, *, weights: str | None = None, labels=None, confidence: float = 0.95) -> dict:
    """Cohen's kappa between two raters' labels, optionally weighted, with SE, CI and p-value.

    Parameters
    ----------
    rater1, rater2 : array-like
        One rating per case. For a weighted kappa the order of ``labels`` (default: sorted values) is the
        ordinal scale.
    weights : {None, "linear", "quadratic"}
        As ``sklearn.metrics.cohen_kappa_score(weights=...)``.
    labels : sequence, optional

    Returns
    -------
    dict
        ``kappa``, ``se``, ``ci_low``, ``ci_high`` (normal, from ``se``), ``se0``, ``z``, ``p_value`` (test of
        kappa = 0), ``labels``, ``n``, ``weights``.

    Examples
    --------
    >>> r = cohen_kappa([1, 2, 3, 3, 2], [1, 2, 3, 2, 2], weights="linear")
    >>> round(r["kappa"], 4)
    0.7368
    """
    table, labels = _table(rater1, rater2, labels)
    return {**kappa_from_table(table, weights=weights, confidence=confidence), "labels": labels}
