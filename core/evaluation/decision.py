"""Decision-curve analysis (Vickers & Elkin 2006): is acting on the model better than acting on everyone?

Why: AUC ignores what errors cost. At a threshold probability p_t a clinician accepts p_t/(1-p_t) false
positives per true positive; the net benefit NB = TP/n - FP/n * p_t/(1-p_t) counts true positives net of
that price. A model is worth using at p_t when its NB beats both "treat all" (everyone flagged) and
"treat none" (NB = 0).
"""

from __future__ import annotations

import numpy as np

from core.evaluation._validation import check_binary_truth, check_probabilities, check_scores
from core.errors import InputError

DEFAULT_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def net_benefit(y_true, y_prob, *, threshold: float, pos_label=None) -> float:
    """Net benefit of flagging cases with ``y_prob >= threshold``.

    Examples
    --------
    >>> net_benefit([1, 1, 0, 0], [0.9, 0.6, 0.7, 0.1], threshold=0.5)
    0.25
    """
    r = decision_curve(y_true, y_prob, thresholds=[threshold], pos_label=pos_label)
    return float(r["net_benefit"][0])


def decision_curve(y_true, y_prob, *, thresholds=None, pos_label=None) -> dict:
    """Net benefit of the model, of treating all and of treating none over threshold probabilities.

    Parameters
    ----------
    thresholds : array-like of float in (0, 1), optional
        Default 0.01, 0.02, ..., 0.99.

    Returns
    -------
    dict
        ``thresholds``, ``net_benefit`` (model), ``treat_all``, ``treat_none`` (zeros), ``prevalence``.

    Examples
    --------
    >>> r = decision_curve([1, 1, 0, 0], [0.9, 0.6, 0.7, 0.1], thresholds=[0.5])
    >>> r["net_benefit"].tolist(), r["treat_all"].tolist()
    ([0.25], [0.0])
    """
    t = check_binary_truth(y_true, pos_label=pos_label)
    p = check_probabilities(y_prob)
    if t.size != p.size:
        raise InputError(f"y_true has {t.size} values but y_prob has {p.size}")
    thr = DEFAULT_THRESHOLDS if thresholds is None else check_scores(thresholds, name="thresholds")
    bad = np.flatnonzero((thr <= 0) | (thr >= 1))
    if bad.size:
        raise InputError(f"thresholds[{int(bad[0])}] = {float(thr[bad[0]])!r} must lie strictly between 0 and 1")
    n = t.size
    odds = thr / (1.0 - thr)
    pos, neg = np.sort(p[t == 1]), np.sort(p[t == 0])
    tp = pos.size - np.searchsorted(pos, thr, side="left")   # cases with p >= threshold
    fp = neg.size - np.searchsorted(neg, thr, side="left")
    prevalence = float(t.mean())
    return {
        "thresholds": np.asarray(thr, dtype=float),
        "net_benefit": tp / n - fp / n * odds,
        "treat_all": prevalence - (1.0 - prevalence) * odds,
        "treat_none": np.zeros_like(thr, dtype=float),
        "prevalence": prevalence,
    }
