"""Bland-Altman agreement between a measurement method and a reference (e.g. network HC vs expert HC).

Why Bland-Altman and not a correlation: two methods can correlate at r = 0.99 and still disagree by 5 mm on
every head; what a clinician needs is the bias (mean difference) and the range that 95 % of individual
differences fall in (the limits of agreement), with how precisely a finite sample pins those down.

With d_i = method_i - reference_i (i = 1..n), mean d̄ and standard deviation s (n - 1 denominator):

- bias d̄ with CI d̄ ± t_{n-1} · s / sqrt(n);
- limits of agreement d̄ ± z · s, z = 1.96 for 95 %;
- CI of each limit (Bland & Altman 1999, Stat Methods Med Res 8:135, section 2.2): the variance of a limit is
  s² (1/n + z² / (2 (n - 1))), so each limit ± t_{n-1} · s · sqrt(1/n + z² / (2 (n - 1))).

Fewer than two pairs leave s undefined: NaN with an :class:`UndefinedMetricWarning`.

>>> r = bland_altman([1, 2, 3, 4, 5], [1.5, 1.5, 3.5, 3, 5.5])
>>> round(r.mean_diff, 4), round(r.sd_diff, 4), [round(v, 4) for v in r.loa]
(0.0, 0.7071, [-1.3859, 1.3859])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.evaluation._validation import check_confidence, check_scores, show, undefined
from core.errors import InputError


@dataclass(frozen=True)
class BlandAltman:
    n: int
    mean_diff: float
    sd_diff: float
    loa: tuple                      # (lower, upper) limits of agreement
    mean_diff_ci: tuple
    loa_lower_ci: tuple
    loa_upper_ci: tuple
    confidence: float
    mean_abs_diff: float
    means: np.ndarray = field(repr=False)     # (method + reference) / 2 per pair: the plot's x
    diffs: np.ndarray = field(repr=False)     # method - reference per pair: the plot's y

    def to_dict(self) -> dict:
        """JSON-ready summary (no per-pair arrays)."""
        return {"n": self.n, "mean": self.mean_diff, "sd": self.sd_diff, "loa": list(self.loa),
                "mean_ci": list(self.mean_diff_ci), "loa_lower_ci": list(self.loa_lower_ci),
                "loa_upper_ci": list(self.loa_upper_ci), "confidence": self.confidence,
                "mean_abs": self.mean_abs_diff}


def bland_altman(method, reference, *, confidence: float = 0.95) -> BlandAltman:
    """Bias, limits of agreement and their confidence intervals of ``method`` against ``reference``.

    Parameters
    ----------
    method, reference : array-like of float, same length
        Paired measurements (same unit), e.g. predicted and expert head circumference in mm.
    confidence : float
        Coverage of the limits of agreement and of every interval (0.95: z = 1.96).

    Returns
    -------
    BlandAltman
        ``mean_diff`` (bias), ``sd_diff``, ``loa`` and the CIs; NaN (with a warning) where n < 2.
    """
    from scipy.stats import norm, t

    c = check_confidence(confidence)
    a = check_scores(method, name="method")
    b = check_scores(reference, name="reference")
    if a.shape != b.shape:
        raise InputError(f"method and reference differ in length: {a.size} vs {b.size} (values {show(list(a[:3]))}...)")
    d = a - b
    n = int(d.size)
    bias = float(d.mean())
    mad = float(np.abs(d).mean())
    z = float(norm.ppf(0.5 + c / 2.0))
    if n < 2:
        undefined("Bland-Altman limits need at least two pairs; returning nan")
        nan2 = (math.nan, math.nan)
        return BlandAltman(n, bias, math.nan, nan2, nan2, nan2, nan2, c, mad, (a + b) / 2.0, d)
    s = float(d.std(ddof=1))
    tq = float(t.ppf(0.5 + c / 2.0, n - 1))
    lo, hi = bias - z * s, bias + z * s
    se_bias = s / math.sqrt(n)
    se_limit = s * math.sqrt(1.0 / n + z * z / (2.0 * (n - 1)))
    return BlandAltman(
        n=n, mean_diff=bias, sd_diff=s, loa=(lo, hi),
        mean_diff_ci=(bias - tq * se_bias, bias + tq * se_bias),
        loa_lower_ci=(lo - tq * se_limit, lo + tq * se_limit),
        loa_upper_ci=(hi - tq * se_limit, hi + tq * se_limit),
        confidence=c, mean_abs_diff=mad, means=(a + b) / 2.0, diffs=d)
