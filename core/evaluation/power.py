"""Power and sample size for AUC studies: Hanley-McNeil variance, Obuchowski's one-curve design (pROC), and the
two-curve design from DeLong (co)variances of pilot data.

Why: "how many miscarriages do we need to show AUC > 0.5?" is asked before any data exist. pROC's
``power.roc.test`` answers it with Obuchowski & McClish (1997)'s binormal variance of the AUC,
``V(theta) = 0.0099 exp(-A^2/2) ((5A^2 + 8) + (A^2 + 8)/kappa)`` with ``A = 1.414 Phi^-1(theta)`` and
``kappa = controls / cases``, against the null variance ``0.0792 (1 + 1/kappa)`` (theta = 0.5); then

    n_cases = (z_alpha sqrt(V0) + z_beta sqrt(VA))^2 / (theta - 0.5)^2

(two-sided: alpha halved). Any one of AUC, cases, significance level or power is solved from the others.
For two correlated curves (pilot scores of two models on the same cases) the variances are the DeLong
variance and covariance scaled by the number of cases: V0 = 2 (V1 - C12), VA = V1 + V2 - 2 C12.
Hanley & McNeil (1982) give the AUC's variance for exponential score distributions, Q1 = A/(2 - A),
Q2 = 2A^2/(1 + A); it is the classic quick answer for a CI width.
"""

from __future__ import annotations

import math

from scipy import optimize, stats

from core.evaluation._validation import check_binary_truth, check_choice, check_fraction, show
from core.errors import InputError


def hanley_mcneil_variance(auc: float, n_pos: int, n_neg: int) -> float:
    """Hanley-McNeil (1982) variance of an empirical AUC with ``n_pos`` cases and ``n_neg`` controls.

    Examples
    --------
    >>> round(hanley_mcneil_variance(0.8, 50, 50) ** 0.5, 4)
    0.0445
    """
    a = check_fraction(auc, name="auc")
    m, n = _positive(n_pos, "n_pos"), _positive(n_neg, "n_neg")
    q1, q2 = a / (2.0 - a), 2.0 * a * a / (1.0 + a)
    return (a * (1 - a) + (m - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (m * n)


def _positive(v, name) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{name} = {show(v)} is not a number") from None
    if not f > 0 or not math.isfinite(f):
        raise InputError(f"{name} = {show(v)} must be a positive number")
    return f


def obuchowski_variance(auc: float, kappa: float) -> float:
    """Obuchowski's binormal variance of the AUC times the number of cases (pROC ``var_theta_obuchowski``)."""
    a = float(stats.norm.ppf(auc)) * 1.414
    return 0.0099 * math.exp(-a * a / 2) * ((5 * a * a + 8) + (a * a + 8) / kappa)


def power_auc(*, auc=None, n_cases=None, n_controls=None, sig_level=0.05, power=None, kappa: float = 1.0,
              alternative: str = "two-sided") -> dict:
    """Solve the one-curve design (H0: AUC = 0.5) for whichever of AUC, cases, sig_level, power is None.

    Like ``pROC::power.roc.test(auc=, ncases=, ncontrols=, sig.level=, power=, kappa=)``: give the others;
    ``n_controls`` defaults to ``kappa * n_cases``.

    Returns
    -------
    dict
        ``auc``, ``n_cases``, ``n_controls``, ``sig_level``, ``power``, ``alternative``, ``solved`` (which one).

    Examples
    --------
    >>> round(power_auc(auc=0.73, n_cases=41, n_controls=72)["power"], 6)
    0.989745
    """
    check_choice(alternative, ("two-sided", "one-sided"), name="alternative")
    unknown = [k for k, v in (("auc", auc), ("n_cases", n_cases), ("sig_level", sig_level), ("power", power))
               if v is None]
    if len(unknown) != 1:
        raise InputError(f"give all but one of auc, n_cases, sig_level, power (missing: {unknown or 'none'})")
    kappa = _positive(kappa, "kappa")
    if n_cases is not None:
        n_cases = _positive(n_cases, "n_cases")
        n_controls = kappa * n_cases if n_controls is None else _positive(n_controls, "n_controls")
        kappa = n_controls / n_cases
    if auc is not None:
        auc = check_fraction(auc, name="auc", low=0.5, high=1.0, closed=False)
    if power is not None:
        power = check_fraction(power, name="power", closed=False)
    tails = 2 if alternative == "two-sided" else 1
    if sig_level is not None:
        sig_level = check_fraction(sig_level, name="sig_level", closed=False)
        za = float(stats.norm.ppf(1 - sig_level / tails))
    v0 = 0.0792 * (1 + 1 / kappa)
    if unknown == ["power"]:
        va = obuchowski_variance(auc, kappa)
        zb = (math.sqrt(n_cases * (auc - 0.5) ** 2) - za * math.sqrt(v0)) / math.sqrt(va)
        power = float(stats.norm.cdf(zb))
    elif unknown == ["n_cases"]:
        va = obuchowski_variance(auc, kappa)
        zb = float(stats.norm.ppf(power))
        n_cases = (za * math.sqrt(v0) + zb * math.sqrt(va)) ** 2 / (auc - 0.5) ** 2
        n_controls = kappa * n_cases
    elif unknown == ["sig_level"]:
        va = obuchowski_variance(auc, kappa)
        zb = float(stats.norm.ppf(power))
        za = (math.sqrt(n_cases * (auc - 0.5) ** 2) - zb * math.sqrt(va)) / math.sqrt(v0)
        sig_level = float(stats.norm.sf(za)) * tails
    else:
        za_ = za
        zb = float(stats.norm.ppf(power))

        def gap(x):
            va = obuchowski_variance(x, kappa)
            return (za_ * math.sqrt(v0) + zb * math.sqrt(va)) ** 2 / (x - 0.5) ** 2 - n_cases

        auc = float(optimize.brentq(gap, 0.5 + 1e-9, 1 - 1e-12, xtol=1e-12))
    return {"auc": auc, "n_cases": n_cases, "n_controls": n_controls, "sig_level": sig_level, "power": power,
            "alternative": alternative, "solved": unknown[0], "method": "obuchowski"}


def power_two_aucs(y_true, y_score1, y_score2, *, sig_level: float = 0.05, power=None,
                   alternative: str = "two-sided", pos_label=None) -> dict:
    """Power of the paired comparison at the pilot's size, or (with ``power``) the cases needed, from the DeLong
    variances of pilot scores (pROC ``power.roc.test(roc1, roc2)`` with DeLong's method).

    Examples
    --------
    >>> r = power_two_aucs([0, 0, 0, 0, 1, 1, 1, 1], [.1, .4, .35, .2, .8, .7, .3, .9], [.3, .2, .5, .1, .4, .6, .35, .45])
    >>> round(r["power"], 3), r["n_cases"]
    (0.132, 4)
    """
    from core.evaluation.delong import delong_covariance

    check_choice(alternative, ("two-sided", "one-sided"), name="alternative")
    alpha = check_fraction(sig_level, name="sig_level", closed=False)
    aucs, cov = delong_covariance(y_true, y_score1, y_score2, pos_label=pos_label)
    t = check_binary_truth(y_true, pos_label=pos_label)
    n_cases = int(t.sum())
    n_controls = int(t.size - n_cases)
    v1, v2, c12 = (float(cov[0, 0]) * n_cases, float(cov[1, 1]) * n_cases, float(cov[0, 1]) * n_cases)
    v0, va = 2 * v1 - 2 * c12, v1 + v2 - 2 * c12
    delta = float(aucs[0] - aucs[1])
    tails = 2 if alternative == "two-sided" else 1
    za = float(stats.norm.ppf(1 - alpha / tails))
    out = {"auc1": float(aucs[0]), "auc2": float(aucs[1]), "sig_level": alpha, "alternative": alternative,
           "method": "delong"}
    if not (va > 0 and v0 > 0 and delta != 0):
        raise InputError("the two pilot scores give no AUC difference or no variance; power is undefined")
    if power is None:
        zb = (math.sqrt(n_cases * delta ** 2) - za * math.sqrt(v0)) / math.sqrt(va)
        return {**out, "n_cases": n_cases, "n_controls": n_controls, "power": float(stats.norm.cdf(zb)),
                "solved": "power"}
    pw = check_fraction(power, name="power", closed=False)
    nd = (za * math.sqrt(v0) + float(stats.norm.ppf(pw)) * math.sqrt(va)) ** 2 / delta ** 2
    return {**out, "n_cases": nd, "n_controls": nd * n_controls / n_cases, "power": pw, "solved": "n_cases"}
