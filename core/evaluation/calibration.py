"""Calibration: does a predicted 30 % mean that three cases in ten are positive?

Why: a clinician reads the CNN's probability as a risk. Discrimination (AUC) says nothing about that; the
reliability curve, the Brier score and the expected calibration error (ECE) do. The curve comes from
scikit-learn's ``calibration_curve``; we add the per-bin counts (a point made of three cases should be drawn
small) and the ECE, which scikit-learn lacks.

Calibration slope and intercept (logistic recalibration, Cox 1958; Van Calster et al. 2016): regress the
outcome on the model's log-odds, logit P(y = 1) = a + b * logit(p). The slope b (1 = ideal; < 1 = predictions
too extreme, the usual sign of overfitting) comes from the two-parameter fit; the intercept reported is
"calibration-in-the-large", a with b fixed at 1 (an offset; 0 = ideal, > 0 = risks under-estimated on
average). Both are maximum-likelihood fits by Newton-Raphson with Wald CIs from the observed information,
the same estimates as ``statsmodels`` ``Logit`` (slope) and ``GLM(..., offset=logit(p))`` (intercept).
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


_EPS = 1e-12      # probabilities of exactly 0 or 1 are moved this far inside so that their log-odds are finite


def _newton(x: np.ndarray, y: np.ndarray, offset: np.ndarray, *, max_iter: int = 100):
    """Logistic regression coefficients and covariance (inverse observed information) by Newton-Raphson."""
    beta = np.zeros(x.shape[1])
    for _ in range(max_iter):
        eta = x @ beta + offset
        mu = 1.0 / (1.0 + np.exp(-eta))
        w = mu * (1.0 - mu)
        info = x.T @ (x * w[:, None])
        try:
            step = np.linalg.solve(info, x.T @ (y - mu))
        except np.linalg.LinAlgError:
            return None, None
        beta = beta + step
        if not np.isfinite(beta).all() or np.abs(beta).max() > 1e6:
            return None, None
        if np.abs(step).max() < 1e-10:
            mu = 1.0 / (1.0 + np.exp(-(x @ beta + offset)))
            info = x.T @ (x * (mu * (1.0 - mu))[:, None])
            try:
                return beta, np.linalg.inv(info)
            except np.linalg.LinAlgError:
                return None, None
    return None, None


def calibration_slope_intercept(y_true, y_prob, *, confidence: float = 0.95, pos_label=None) -> dict:
    """Calibration slope and calibration-in-the-large intercept with Wald CIs (logistic recalibration).

    Returns
    -------
    dict
        ``slope``, ``slope_ci`` ([low, high]), ``slope_se``, ``slope_fit_intercept`` (a of the two-parameter
        fit), ``intercept`` (a with slope fixed at 1), ``intercept_ci``, ``intercept_se``, ``n``. NaN with a
        warning when a class is absent or the fit does not converge (perfectly separating predictions).

    Examples
    --------
    >>> r = calibration_slope_intercept([0, 0, 1, 0, 1, 1, 0, 1], [.1, .3, .4, .5, .6, .7, .35, .9])
    >>> round(r["slope"], 3), round(r["intercept"], 3)
    (3.235, 0.096)
    """
    from scipy.stats import norm

    from core.evaluation._validation import check_confidence

    c = check_confidence(confidence)
    t, p = _pair(y_true, y_prob, pos_label)
    nan2 = [math.nan, math.nan]
    out = {"slope": math.nan, "slope_ci": nan2, "slope_se": math.nan, "slope_fit_intercept": math.nan,
           "intercept": math.nan, "intercept_ci": list(nan2), "intercept_se": math.nan, "n": int(t.size),
           "confidence": c}
    n_pos = int(t.sum())
    if n_pos in (0, t.size):
        undefined("calibration slope and intercept are undefined: y_true holds one class only")
        return out
    q = np.clip(p, _EPS, 1.0 - _EPS)
    lp = np.log(q / (1.0 - q))
    y = t.astype(float)
    z = float(norm.ppf(0.5 + c / 2))
    beta, cov = _newton(np.column_stack([np.ones_like(lp), lp]), y, np.zeros_like(lp))
    if beta is None:
        undefined("the calibration slope is undefined: the logistic fit did not converge (separable data?)")
    else:
        se = math.sqrt(cov[1, 1])
        out.update(slope=float(beta[1]), slope_se=se, slope_ci=[float(beta[1] - z * se), float(beta[1] + z * se)],
                   slope_fit_intercept=float(beta[0]))
    a, cov_a = _newton(np.ones((lp.size, 1)), y, lp)
    if a is None:
        undefined("the calibration intercept is undefined: the logistic fit did not converge")
    else:
        se = math.sqrt(cov_a[0, 0])
        out.update(intercept=float(a[0]), intercept_se=se, intercept_ci=[float(a[0] - z * se), float(a[0] + z * se)])
    return out
