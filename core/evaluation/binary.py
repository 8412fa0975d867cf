"""Binary diagnostic metrics at one operating threshold, each with a 95 % confidence interval.

Why these intervals: the papers report accuracy, sensitivity, specificity, PPV and NPV with 95 % CIs on small
samples (6 miscarriages!). The Wald interval is badly wrong there; Wilson's score interval (the default) keeps
its coverage near nominal, and Clopper-Pearson (exact, via the beta distribution) is what MedCalc reports, so
both are offered. F1 is not a proportion, but it is a monotone function of one: with a = TP and
m = TP + FP + FN, q = a/m is binomial given m and F1 = 2q/(1+q), so F1's interval is the image of q's.
"""

from __future__ import annotations

import math

import numpy as np

from core.evaluation._validation import (
    check_binary_pair, check_binary_truth, check_choice, check_confidence, check_scores, show, undefined,
)
from core.errors import InputError

CI_METHODS = ("wilson", "clopper-pearson", "agresti-coull", "jeffreys")


def proportion_ci(successes, total, *, method: str = "wilson", confidence: float = 0.95) -> tuple[float, float]:
    """Confidence interval of a binomial proportion ``successes / total``.

    Parameters
    ----------
    successes, total : int
        Counts, ``0 <= successes <= total``.
    method : {"wilson", "clopper-pearson", "agresti-coull", "jeffreys"}
        Wilson score interval; the exact Clopper-Pearson interval from beta quantiles; Agresti-Coull (the Wald
        interval around (k + z^2/2) / (n + z^2), clipped to [0, 1]); or Jeffreys (equal-tailed Beta(k + 1/2,
        n - k + 1/2) quantiles). Each is ``statsmodels.stats.proportion.proportion_confint`` with method
        "wilson", "beta", "agresti_coull", "jeffreys".
    confidence : float
        Coverage, e.g. 0.95.

    Returns
    -------
    (low, high) : tuple of float
        ``(nan, nan)`` with an :class:`UndefinedMetricWarning` when ``total == 0``.

    Examples
    --------
    >>> [round(v, 4) for v in proportion_ci(4, 6)]
    [0.3, 0.9032]
    """
    check_choice(method, CI_METHODS, name="method")
    c = check_confidence(confidence)
    k, n = _count(successes, "successes"), _count(total, "total")
    if k > n:
        raise InputError(f"successes = {k} exceeds total = {n}")
    if n == 0:
        undefined("a proportion with total 0 has no confidence interval")
        return math.nan, math.nan
    alpha = 1.0 - c
    if method == "wilson":
        from scipy.stats import norm

        z = float(norm.ppf(1.0 - alpha / 2.0))
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
        return max(0.0, centre - half), min(1.0, centre + half)
    if method == "agresti-coull":
        from scipy.stats import norm

        z = float(norm.ppf(1.0 - alpha / 2.0))
        n_c = n + z * z
        q = (k + z * z / 2.0) / n_c
        half = z * math.sqrt(q * (1.0 - q) / n_c)
        return max(0.0, q - half), min(1.0, q + half)
    from scipy.stats import beta

    if method == "jeffreys":
        return (float(beta.ppf(alpha / 2.0, k + 0.5, n - k + 0.5)),
                float(beta.isf(alpha / 2.0, k + 0.5, n - k + 0.5)))
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2.0, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1.0 - alpha / 2.0, k + 1, n - k))
    return low, high


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        if isinstance(value, (float, np.floating)) and float(value).is_integer() and value >= 0:
            return int(value)
        raise InputError(f"{name} = {show(value)} must be a non-negative whole number")
    return int(value)


def confusion_counts(y_true, y_pred, *, pos_label=None) -> dict:
    """TP, FP, FN, TN of binary predictions.

    Parameters
    ----------
    y_true : array-like of 0/1 (or two labels with ``pos_label``)
    y_pred : array-like of 0/1 or bool (1 = predicted positive)

    Examples
    --------
    >>> confusion_counts([1, 1, 0, 0], [1, 0, 0, 1])
    {'tp': 1, 'fp': 1, 'fn': 1, 'tn': 1}
    """
    t = check_binary_truth(y_true, pos_label=pos_label)
    p = check_binary_truth(y_pred, name="y_pred")
    if t.size != p.size:
        raise InputError(f"y_true has {t.size} values but y_pred has {p.size}")
    tp = int(np.sum((t == 1) & (p == 1)))
    fp = int(np.sum((t == 0) & (p == 1)))
    fn = int(np.sum((t == 1) & (p == 0)))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": int(t.size - tp - fp - fn)}


def confusion_matrix(y_true, y_pred, *, pos_label=None) -> np.ndarray:
    """2x2 confusion matrix in scikit-learn's layout ``[[TN, FP], [FN, TP]]`` (rows = truth).

    Examples
    --------
    >>> confusion_matrix([1, 1, 0, 0], [1, 1, 0, 1]).tolist()
    [[1, 1], [0, 2]]
    """
    c = confusion_counts(y_true, y_pred, pos_label=pos_label)
    return np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]], dtype=np.int64)


def predictions_at_threshold(y_score, *, threshold: float = 0.5) -> np.ndarray:
    """1 where ``score >= threshold`` (the operating point convention used throughout SonoDash)."""
    s = check_scores(y_score)
    try:
        thr = float(threshold)
    except (TypeError, ValueError):
        raise InputError(f"threshold = {show(threshold)} is not a number") from None
    if math.isnan(thr):
        raise InputError("threshold is NaN")
    return (s >= thr).astype(np.int8)


def _metric(k: int, n: int, name: str, *, method: str, confidence: float) -> dict:
    if n == 0:
        value = undefined(f"{name} is undefined: its denominator is 0")
        return {"value": value, "ci_low": math.nan, "ci_high": math.nan, "numerator": k, "denominator": n}
    low, high = proportion_ci(k, n, method=method, confidence=confidence)
    return {"value": k / n, "ci_low": low, "ci_high": high, "numerator": k, "denominator": n}


def f1_from_counts(tp: int, fp: int, fn: int, *, method: str = "wilson", confidence: float = 0.95) -> dict:
    """F1 = 2TP / (2TP + FP + FN) with the interval mapped from q = TP / (TP + FP + FN).

    Examples
    --------
    >>> round(f1_from_counts(3, 1, 1)["value"], 4)
    0.75
    """
    m = tp + fp + fn
    if m == 0:
        value = undefined("F1 is undefined: no positive case and no positive prediction")
        return {"value": value, "ci_low": math.nan, "ci_high": math.nan, "numerator": 2 * tp,
                "denominator": 0}
    q_low, q_high = proportion_ci(tp, m, method=method, confidence=confidence)
    to_f1 = lambda q: 2.0 * q / (1.0 + q)  # noqa: E731 - monotone map from the Jaccard ratio to F1
    return {"value": 2.0 * tp / (2.0 * tp + fp + fn), "ci_low": to_f1(q_low), "ci_high": to_f1(q_high),
            "numerator": 2 * tp, "denominator": 2 * tp + fp + fn}


def metrics_from_counts(tp: int, fp: int, fn: int, tn: int, *, method: str = "wilson",
                        confidence: float = 0.95) -> dict:
    """Accuracy, sensitivity, specificity, PPV, NPV, F1 (each ``{value, ci_low, ci_high, numerator,
    denominator}``), the counts and the single-point AUC ``(sens + spec) / 2``.

    Examples
    --------
    >>> m = metrics_from_counts(4, 32, 2, 63)
    >>> round(m["sensitivity"]["value"], 4), round(m["specificity"]["value"], 4), round(m["auc"], 3)
    (0.6667, 0.6632, 0.665)
    """
    check_choice(method, CI_METHODS, name="method")
    check_confidence(confidence)
    tp, fp, fn, tn = (_count(v, k) for v, k in ((tp, "tp"), (fp, "fp"), (fn, "fn"), (tn, "tn")))
    n = tp + fp + fn + tn
    kw = {"method": method, "confidence": confidence}
    out = {
        "accuracy": _metric(tp + tn, n, "accuracy", **kw),
        "sensitivity": _metric(tp, tp + fn, "sensitivity", **kw),
        "specificity": _metric(tn, tn + fp, "specificity", **kw),
        "ppv": _metric(tp, tp + fp, "PPV", **kw),
        "npv": _metric(tn, tn + fn, "NPV", **kw),
        "f1": f1_from_counts(tp, fp, fn, **kw),
        "counts": {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "n": n, "n_pos": tp + fn, "n_neg": tn + fp},
        "ci_method": method,
        "confidence": confidence,
    }
    out["auc"] = single_point_auc(out["sensitivity"]["value"], out["specificity"]["value"])
    return out


def single_point_auc(sensitivity: float, specificity: float) -> float:
    """AUC of a binary test (one ROC point joined to (0,0) and (1,1)): ``(sens + spec) / 2``.

    This is how the miscarriage paper scores the CRL/FHR rules (Table 3).

    Examples
    --------
    >>> round(single_point_auc(0.5, 0.8737), 3)
    0.687
    """
    return (float(sensitivity) + float(specificity)) / 2.0


def binary_metrics(y_true, y_score=None, *, y_pred=None, threshold: float = 0.5, pos_label=None,
                   method: str = "wilson", confidence: float = 0.95) -> dict:
    """All threshold metrics with CIs from scores (``y_score >= threshold`` is positive) or from ``y_pred``.

    Parameters
    ----------
    y_true : array-like of 0/1, or two labels with ``pos_label``
    y_score : array-like of float, optional
        Continuous scores; thresholded at ``threshold``.
    y_pred : array-like of 0/1, optional
        Ready-made binary predictions (a rule's flags); give either this or ``y_score``.
    method : {"wilson", "clopper-pearson"}
    confidence : float

    Returns
    -------
    dict
        See :func:`metrics_from_counts`; plus ``threshold`` (None with ``y_pred``).

    Examples
    --------
    >>> m = binary_metrics([1, 1, 0, 0], [0.9, 0.4, 0.2, 0.6])
    >>> m["sensitivity"]["value"], m["specificity"]["value"]
    (0.5, 0.5)
    """
    if (y_score is None) == (y_pred is None):
        raise InputError("give exactly one of y_score (with threshold) or y_pred")
    if y_score is not None:
        t, _ = check_binary_pair(y_true, y_score, pos_label=pos_label)
        pred = predictions_at_threshold(y_score, threshold=threshold)
    else:
        t = check_binary_truth(y_true, pos_label=pos_label)
        pred = check_binary_truth(y_pred, name="y_pred")
        if pred.size != t.size:
            raise InputError(f"y_true has {t.size} values but y_pred has {pred.size}")
    c = confusion_counts(t, pred)
    out = metrics_from_counts(c["tp"], c["fp"], c["fn"], c["tn"], method=method, confidence=confidence)
    out["threshold"] = float(threshold) if y_score is not None else None
    return out


def likelihood_ratios(tp: int, fp: int, fn: int, tn: int, *, confidence: float = 0.95) -> dict:
    """Positive and negative likelihood ratios and the diagnostic odds ratio, each with a log-scale CI.

    LR+ = sens / (1 - spec), LR- = (1 - sens) / spec, DOR = (TP TN) / (FP FN) = LR+ / LR-. The intervals are
    the usual log-method ones (Simel, Samsa & Matchar 1991; Woolf for the DOR):
    SE(ln LR+) = sqrt(1/TP - 1/(TP+FN) + 1/FP - 1/(FP+TN)), SE(ln LR-) = sqrt(1/FN - 1/(TP+FN) + 1/TN -
    1/(FP+TN)), SE(ln DOR) = sqrt(1/TP + 1/FP + 1/FN + 1/TN): what ``statsmodels.stats.contingency_tables.
    Table2x2`` gives as ``riskratio_confint`` (rows = disease status) and ``oddsratio_confint``. A ratio with
    a zero count in it is undefined (NaN and a warning); add 0.5 to every cell yourself if you want Haldane's
    correction.

    Returns
    -------
    dict
        ``lr_positive``, ``lr_negative``, ``dor``: each ``{"value", "ci_low", "ci_high"}``.

    Examples
    --------
    >>> r = likelihood_ratios(4, 32, 2, 63)
    >>> round(r["lr_positive"]["value"], 3), round(r["lr_negative"]["value"], 3), round(r["dor"]["value"], 3)
    (1.979, 0.503, 3.938)
    """
    from scipy.stats import norm

    c = check_confidence(confidence)
    tp, fp, fn, tn = (_count(v, k) for v, k in ((tp, "tp"), (fp, "fp"), (fn, "fn"), (tn, "tn")))
    z = float(norm.ppf(0.5 + c / 2.0))

    def ratio(name, num_k, num_n, den_k, den_n, se_terms):
        if min(num_n, den_n) == 0 or num_k == 0 or den_k == 0:
            undefined(f"{name} is undefined: a count in it is 0")
            return {"value": math.nan, "ci_low": math.nan, "ci_high": math.nan}
        value = (num_k / num_n) / (den_k / den_n)
        se = math.sqrt(sum(se_terms))
        return {"value": value, "ci_low": value * math.exp(-z * se), "ci_high": value * math.exp(z * se)}

    pos, neg = tp + fn, fp + tn
    lr_pos = ratio("LR+", tp, pos, fp, neg, [1 / tp - 1 / pos, 1 / fp - 1 / neg] if tp and fp and pos and neg else [])
    lr_neg = ratio("LR-", fn, pos, tn, neg, [1 / fn - 1 / pos, 1 / tn - 1 / neg] if fn and tn and pos and neg else [])
    if 0 in (tp, fp, fn, tn):
        undefined("the diagnostic odds ratio is undefined: a cell of the 2x2 table is 0")
        dor = {"value": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    else:
        v = tp * tn / (fp * fn)
        se = math.sqrt(1 / tp + 1 / fp + 1 / fn + 1 / tn)
        dor = {"value": v, "ci_low": v * math.exp(-z * se), "ci_high": v * math.exp(z * se)}
    return {"lr_positive": lr_pos, "lr_negative": lr_neg, "dor": dor, "confidence": c}
