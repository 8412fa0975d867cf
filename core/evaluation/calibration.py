"""Calibration: does a predicted 30 % mean that three cases in ten are positive?

Why: a clinician reads the CNN's probability as a risk. Discrimination (AUC) says nothing about that; the
reliability curve, the Brier score and the expected calibration error (ECE) do. The curve comes from
scikit-learn's ``calibration_curve``; we add the per-bin counts (a point made of three cases should be drawn
small) and the ECE, which scikit-learn lacks.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from core.evaluation._validation import (
    check_binary_truth, check_choice, check_positive_int, check_probabilities, undefined,
)
from core.errors import InputError

STRATEGIES = ("uniform", "quantile")


def _pair(y_true, y_prob, pos_label):
    t = check_binary_truth(y_true, pos_label=pos_label)
    p = check_probabilities(y_prob)
    if t.size != p.size:
        raise InputError(f"y_true has {t.size} values but y_prob has {p.size}")
    return t, p


def _bins(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """Bin index of each probability, with the same edges scikit-learn's calibration_curve uses."""
    if strategy == "quantile":
        edges = np.percentile(p, np.linspace(0, 100, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], p)


def reliability_curve(y_true, y_prob, *, n_bins: int = 10, strategy: str = "uniform", pos_label=None) -> dict:
    """Observed positive fraction against mean predicted probability per bin (empty bins left out).

    Returns
    -------
    dict
        ``mean_predicted``, ``fraction_positive``, ``count`` (ndarrays, one entry per non-empty bin).

    Examples
    --------
    >>> r = reliability_curve([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], n_bins=2)
    >>> r["fraction_positive"].tolist(), r["count"].tolist()
    ([0.0, 1.0], [2, 2])
    """
    check_choice(strategy, STRATEGIES, name="strategy")
    n_bins = check_positive_int(n_bins, name="n_bins")
    t, p = _pair(y_true, y_prob, pos_label)
    frac, mean_pred = calibration_curve(t, p, n_bins=n_bins, strategy=strategy)
    counts = np.bincount(_bins(p, n_bins, strategy), minlength=n_bins)
    return {"mean_predicted": mean_pred, "fraction_positive": frac, "count": counts[counts > 0]}


def brier_score(y_true, y_prob, *, pos_label=None) -> float:
    """Mean squared difference between probability and outcome (0 = perfect; 0.25 = always saying 50 %).

    Examples
    --------
    >>> brier_score([0, 1], [0.2, 0.6])
    0.1
    """
    t, p = _pair(y_true, y_prob, pos_label)
    return float(brier_score_loss(t, p))


def expected_calibration_error(y_true, y_prob, *, n_bins: int = 10, strategy: str = "uniform",
                               pos_label=None) -> float:
    """ECE = sum over bins of (bin size / n) * |observed fraction - mean predicted probability|.

    Examples
    --------
    >>> round(expected_calibration_error([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], n_bins=2), 4)
    0.15
    """
    check_choice(strategy, STRATEGIES, name="strategy")
    n_bins = check_positive_int(n_bins, name="n_bins")
    t, p = _pair(y_true, y_prob, pos_label)
    if t.size == 0:
        return undefined("the ECE of no cases is undefined")
    b = _bins(p, n_bins, strategy)
    total = 0.0
    for k in np.unique(b):
        in_bin = b == k
        total += in_bin.sum() / t.size * abs(t[in_bin].mean() - p[in_bin].mean())
    return float(total) if math.isfinite(total) else math.nan


def calibration_summary(y_true, y_prob, *, n_bins: int = 10, strategy: str = "uniform", pos_label=None) -> dict:
    """Reliability curve, Brier score and ECE in one call (what the evaluation page draws).

    Examples
    --------
    >>> r = calibration_summary([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], n_bins=2)
    >>> round(r["brier"], 4), round(r["ece"], 4)
    (0.025, 0.15)
    """
    return {
        "curve": reliability_curve(y_true, y_prob, n_bins=n_bins, strategy=strategy, pos_label=pos_label),
        "brier": brier_score(y_true, y_prob, pos_label=pos_label),
        "ece": expected_calibration_error(y_true, y_prob, n_bins=n_bins, strategy=strategy, pos_label=pos_label),
    }
