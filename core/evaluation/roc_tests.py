"""Comparing two ROC curves as R's ``pROC::roc.test`` does: DeLong (paired / unpaired), bootstrap, Venkatraman.

Why several tests: DeLong's paired test (:func:`core.evaluation.delong.delong_test`) needs both scores on the
same cases. Two models evaluated on different patients need the unpaired DeLong test (a Welch-type t test
on the two DeLong variances). DeLong is not defined for a partial AUC: the bootstrap test resamples cases
(stratified by class, as pROC) and divides the AUC difference by the replicates' SD. Two curves with equal
AUC can still cross: Venkatraman's (1996, 2000) permutation test compares the whole curves (the integrated
absolute difference of the error rates over all rank thresholds).

Formulas are pROC's (R/delong.R, R/bootstrap.R, R/venkatraman.R):

- unpaired DeLong: D = (A1 - A2) / sqrt(S1 + S2), S = var(V10)/m + var(V01)/n, Welch df
  (S1 + S2)^2 / (S1^2/(N1 - 1) + S2^2/(N2 - 1)), p = 2 P(T_df > |D|);
- bootstrap: D = (A1 - A2) / sd(A1* - A2*), p = 2 (1 - Phi(|D|));
- Venkatraman: ranks with ties broken by order ("first"); E = sum over rank cut-offs of the absolute
  difference of (false negatives + false positives); the permutation replicates jitter the ranks by U(-1/2, 1/2)
  and swap each case's two ranks with probability 1/2 (paired); p = share of replicates with E* >= E.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from core.evaluation._validation import (
    check_binary_pair, check_choice, check_confidence, check_positive_int, undefined,
)
from core.evaluation.coords import _range, oriented, pauc_from_points, resolve_direction, roc_points
from core.evaluation.delong import _components, delong_test
from core.errors import InputError

METHODS = ("delong", "bootstrap", "venkatraman")


def _placements(t, s):
    aucs, v10, v01 = _components(t, s[None, :])
    return float(aucs[0]), v10[0], v01[0]


def _curve(y_true, y_score, name, direction, pos_label):
    t, s = check_binary_pair(y_true, y_score, pos_label=pos_label, score_name=name)
    if int(t.sum()) in (0, t.size):
        raise InputError(f"{name}: the truth holds only one class; an ROC needs both")
    d = resolve_direction(t, s, direction)
    return t, oriented(s, d), d


def unpaired_delong_test(y_true1, y_score1, y_true2, y_score2, *, confidence: float = 0.95, direction: str = "auto",
                         pos_label=None) -> dict:
    """DeLong's test of two AUCs measured on different cases (pROC ``roc.test(paired=FALSE)``).

    Returns
    -------
    dict
        ``auc1``, ``auc2``, ``difference``, ``difference_ci`` (Welch t interval), ``se``, ``statistic`` (D),
        ``df``, ``p_value``, ``n1``, ``n2``.

    Examples
    --------
    >>> r = unpaired_delong_test([0, 0, 1, 1, 0, 1], [.1, .3, .7, .8, .4, .6], [0, 1, 0, 1, 0, 1], [.2, .6, .5, .4, .1, .9])
    >>> round(r["auc1"], 3), round(r["auc2"], 3)
    (1.0, 0.889)
    """
    c = check_confidence(confidence)
    t1, s1, d1 = _curve(y_true1, y_score1, "y_score1", direction, pos_label)
    t2, s2, d2 = _curve(y_true2, y_score2, "y_score2", direction, pos_label)
    a1, x1, y1 = _placements(t1, s1)
    a2, x2, y2 = _placements(t2, s2)
    if min(x1.size, y1.size, x2.size, y2.size) < 2:
        undefined("the unpaired DeLong test needs at least two cases per class in each sample")
        se = df = math.nan
    else:
        v1 = np.var(x1, ddof=1) / x1.size + np.var(y1, ddof=1) / y1.size
        v2 = np.var(x2, ddof=1) / x2.size + np.var(y2, ddof=1) / y2.size
        se = math.sqrt(v1 + v2)
        df = (v1 + v2) ** 2 / (v1 ** 2 / (t1.size - 1) + v2 ** 2 / (t2.size - 1)) if v1 + v2 > 0 else math.nan
    diff = a1 - a2
    if se and math.isfinite(se) and se > 0:
        stat = diff / se
        p = float(2 * stats.t.sf(abs(stat), df))
        q = float(stats.t.ppf(0.5 + c / 2, df))
        ci = [diff - q * se, diff + q * se]
    else:
        if math.isfinite(se):
            undefined("the unpaired DeLong test is undefined: both AUC variances are zero")
        stat = p = math.nan
        ci = [math.nan, math.nan]
    return {"method": "delong", "paired": False, "auc1": a1, "auc2": a2, "difference": diff, "difference_ci": ci,
            "se": se, "statistic": stat, "df": df, "p_value": p, "n1": int(t1.size), "n2": int(t2.size),
            "direction": [d1, d2], "confidence": c}


def _auc_of(t, s, partial, focus, correct):
    se, sp, _ = roc_points(t, s)
    if partial is None:
        return pauc_from_points(se, sp, 0.0, 1.0)
    return pauc_from_points(se, sp, *partial, focus=focus, correct=correct)


def _strat_idx(rng, t):
    pos, neg = np.flatnonzero(t == 1), np.flatnonzero(t == 0)
    return np.concatenate([rng.choice(neg, size=neg.size), rng.choice(pos, size=pos.size)])


def bootstrap_test(y_true1, y_score1, y_score2, *, y_true2=None, paired: bool | None = None, n_boot: int = 2000,
                   stratified: bool = True, seed: int = 0, partial=None, focus: str = "specificity",
                   correct: bool = False, direction: str = "auto", pos_label=None) -> dict:
    """Bootstrap test of two (partial) AUCs, paired or unpaired (pROC ``roc.test(method="bootstrap")``).

    Paired (the default when ``y_true2`` is not given): each replicate draws the same cases for both scores.
    Unpaired: ``y_true2`` and ``y_score2`` are another sample, resampled independently.

    Returns
    -------
    dict
        ``auc1``, ``auc2``, ``difference``, ``statistic`` (D), ``p_value`` (two-sided normal), ``n_boot``,
        ``n_missing_class``, ``paired``, ``stratified``.

    Examples
    --------
    >>> r = bootstrap_test([0, 0, 0, 1, 1, 1], [.1, .3, .5, .4, .7, .9], [.2, .1, .6, .5, .4, .8], n_boot=200)
    >>> round(r["difference"], 4)
    0.1111
    """
    n_boot = check_positive_int(n_boot, name="n_boot")
    check_choice(focus, ("specificity", "sensitivity"), name="focus")
    limits = _range(partial, "partial") if partial is not None else None
    paired = (y_true2 is None) if paired is None else bool(paired)
    t1, s1, d1 = _curve(y_true1, y_score1, "y_score1", direction, pos_label)
    t2, s2, d2 = _curve(y_true1 if y_true2 is None else y_true2, y_score2, "y_score2", direction, pos_label)
    if paired and t1.size != t2.size:
        raise InputError(f"a paired test needs the same cases: {t1.size} and {t2.size} given")
    a1, a2 = _auc_of(t1, s1, limits, focus, correct), _auc_of(t2, s2, limits, focus, correct)
    rng = np.random.default_rng(seed)
    diffs = np.full(n_boot, math.nan)
    missing = 0
    for b in range(n_boot):
        if stratified:
            i1 = _strat_idx(rng, t1)
            i2 = i1 if paired else _strat_idx(rng, t2)
        else:
            i1 = rng.integers(0, t1.size, size=t1.size)
            i2 = i1 if paired else rng.integers(0, t2.size, size=t2.size)
        u1, u2 = t1[i1], t2[i2]
        if u1.min() == u1.max() or u2.min() == u2.max():
            missing += 1
            continue
        diffs[b] = _auc_of(u1, s1[i1], limits, focus, correct) - _auc_of(u2, s2[i2], limits, focus, correct)
    ok = diffs[np.isfinite(diffs)]
    sd = float(np.std(ok, ddof=1)) if ok.size > 1 else math.nan
    if sd > 0:
        stat = (a1 - a2) / sd
    elif ok.size > 1 and a1 == a2:
        stat = 0.0                                # pROC's special case: identical curves
    else:
        stat = undefined("the bootstrap test is undefined: the replicated differences have no spread")
    p = float(2 * stats.norm.sf(abs(stat))) if math.isfinite(stat) else math.nan
    return {"method": "bootstrap", "paired": paired, "auc1": a1, "auc2": a2, "difference": a1 - a2,
            "statistic": stat, "sd": sd, "p_value": p, "n_boot": n_boot, "n_missing_class": missing,
            "stratified": stratified, "partial": list(limits) if limits else None, "direction": [d1, d2],
            "seed": seed}


def _rank_first(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties broken by order of appearance (R's ``rank(ties.method="first")``)."""
    r = np.empty(x.size, dtype=np.int64)
    r[np.argsort(x, kind="stable")] = np.arange(1, x.size + 1)
    return r


def venkatraman_paired_stat(r: np.ndarray, s: np.ndarray, is_case: np.ndarray) -> float:
    """E = sum over x = 1..n of |(FN_S(x) + FP_S(x)) - (FN_R(x) + FP_R(x))| for rank vectors r, s."""
    n = r.size

    def errors(ranks):
        case_at = np.zeros(n + 1, dtype=np.int64)
        case_at[ranks[is_case]] = 1
        ctrl_at = np.zeros(n + 1, dtype=np.int64)
        ctrl_at[ranks[~is_case]] = 1
        fn = np.cumsum(case_at)[1:]                      # cases with rank <= x
        fp = (~is_case).sum() - np.cumsum(ctrl_at)[1:]  # controls with rank > x
        return fn + fp

    return float(np.abs(errors(s) - errors(r)).sum())


def _approx(x, y, at):
    """R's approxfun(x, y)(at): linear, ties in x averaged, NaN outside the range."""
    ux, inv = np.unique(x, return_inverse=True)
    uy = np.bincount(inv, weights=y) / np.bincount(inv)
    out = np.interp(at, ux, uy)
    out[(at < ux[0]) | (at > ux[-1])] = np.nan
    return out


def venkatraman_unpaired_stat(r, s, case1, case2, mp) -> float:
    """Venkatraman (2000) unpaired statistic: integrated |difference| of the mixed error curves."""
    def curves(ranks, is_case):
        n = ranks.size
        grid = np.arange(1, n + 1)
        cases, ctrls = np.sort(ranks[is_case]), np.sort(ranks[~is_case])
        fx = np.searchsorted(cases, grid, side="right") / cases.size
        gx = np.searchsorted(ctrls, grid, side="right") / ctrls.size
        return mp * fx + (1 - mp) * gx, mp * fx + (1 - mp) * (1 - gx)

    rp, rexp = curves(r, case1)
    sp_, sexp = curves(s, case2)
    x = np.sort(np.concatenate([rp, sp_]))
    y = np.abs(_approx(rp, rexp, x) - _approx(sp_, sexp, x))
    seg = (y[1:] + y[:-1]) * (x[1:] - x[:-1]) / 2
    return float(np.nansum(seg))


def venkatraman_test(y_true1, y_score1, y_score2, *, y_true2=None, paired: bool | None = None, n_boot: int = 2000,
                     seed: int = 0, direction: str = "auto", pos_label=None) -> dict:
    """Venkatraman's permutation test that two ROC curves are identical at every operating point.

    Paired (Venkatraman & Begg 1996) when both scores are on the same cases, unpaired (Venkatraman 2000)
    with ``y_true2``. pROC ranks the raw predictor; here scores are first oriented by ``direction`` (the same
    for pROC's default "<" curves).

    Returns
    -------
    dict
        ``statistic`` (E), ``p_value`` (share of permutations with E* >= E), ``n_boot``, ``paired``.

    Examples
    --------
    >>> r = venkatraman_test([0, 0, 0, 1, 1, 1], [.1, .3, .5, .4, .7, .9], [.1, .3, .5, .4, .7, .9], n_boot=50)
    >>> r["statistic"], r["p_value"]
    (0.0, 1.0)
    """
    n_boot = check_positive_int(n_boot, name="n_boot")
    paired = (y_true2 is None) if paired is None else bool(paired)
    t1, s1, d1 = _curve(y_true1, y_score1, "y_score1", direction, pos_label)
    t2, s2, d2 = _curve(y_true1 if y_true2 is None else y_true2, y_score2, "y_score2", direction, pos_label)
    rng = np.random.default_rng(seed)
    r, s = _rank_first(s1), _rank_first(s2)
    c1, c2 = t1 == 1, t2 == 1
    perm = np.empty(n_boot)
    if paired:
        if t1.size != t2.size:
            raise InputError(f"a paired test needs the same cases: {t1.size} and {t2.size} given")
        e = venkatraman_paired_stat(r, s, c1)
        n = r.size
        for b in range(n_boot):
            r2 = r + rng.random(n) - 0.5
            s2j = s + rng.random(n) - 0.5
            q = 1 - np.round(rng.random(n))
            r3 = r2 * q + (1 - q) * s
            s3 = s2j * q + (1 - q) * r
            perm[b] = venkatraman_paired_stat(_rank_first(r3), _rank_first(s3), c1)
    else:
        mp = (c1.sum() + c2.sum()) / (c1.size + c2.size)
        e = venkatraman_unpaired_stat(r, s, c1, c2, mp)
        for b in range(n_boot):
            rj = r + rng.random(r.size) - 0.5
            sj = s + rng.random(s.size) - 0.5
            controls = rng.permutation(np.concatenate([rj[~c1], sj[~c2]]))
            cases = rng.permutation(np.concatenate([rj[c1], sj[c2]]))
            k0, k1 = int((~c1).sum()), int(c1.sum())
            rj[~c1], sj[~c2] = controls[:k0], controls[k0:]
            rj[c1], sj[c2] = cases[:k1], cases[k1:]
            perm[b] = venkatraman_unpaired_stat(_rank_first(rj), _rank_first(sj), c1, c2, mp)
    p = float(np.sum(perm >= e - 1e-12) / n_boot)
    return {"method": "venkatraman", "paired": paired, "statistic": e, "p_value": p, "n_boot": n_boot,
            "direction": [d1, d2], "seed": seed}


def roc_test(y_true, y_score1, y_score2, *, method: str = "delong", y_true2=None, paired: bool | None = None,
             **kw) -> dict:
    """One entry point for :func:`delong_test` (paired), :func:`unpaired_delong_test`, :func:`bootstrap_test`
    and :func:`venkatraman_test`, like ``pROC::roc.test(method=...)``."""
    check_choice(method, METHODS, name="method")
    paired = (y_true2 is None) if paired is None else bool(paired)
    if method == "delong":
        if paired:
            if y_true2 is not None:
                raise InputError("a paired DeLong test takes one truth vector (y_true2 is for unpaired samples)")
            direction = kw.pop("direction", "auto")
            t, s1 = check_binary_pair(y_true, y_score1, pos_label=kw.get("pos_label"))
            _, s2 = check_binary_pair(t, y_score2, score_name="y_score2")
            d1, d2 = resolve_direction(t, s1, direction), resolve_direction(t, s2, direction)
            r = delong_test(t, oriented(s1, d1), oriented(s2, d2), confidence=kw.get("confidence", 0.95))
            return {**r, "method": "delong", "paired": True, "statistic": r["z"], "direction": [d1, d2]}
        return unpaired_delong_test(y_true, y_score1, y_true if y_true2 is None else y_true2, y_score2, **kw)
    if method == "bootstrap":
        return bootstrap_test(y_true, y_score1, y_score2, y_true2=y_true2, paired=paired, **kw)
    return venkatraman_test(y_true, y_score1, y_score2, y_true2=y_true2, paired=paired, **kw)
