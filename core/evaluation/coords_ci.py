"""Bootstrap CIs on pROC's ROC coordinates: ``ci.se``, ``ci.sp``, ``ci.coords`` and ``ci.auc(method="bootstrap")``.

Why a module beside :mod:`core.evaluation.coords`: the point estimates (direction, interpolated coordinates,
partial AUC) are a few closed formulas; the intervals are a resampling engine on top of them. They are
percentile intervals (R's type-7 quantile, numpy's default) over bootstrap replicates that resample cases and
controls separately (``stratified=True``, pROC's default) or all patients together, evaluated in vectorised
chunks (:mod:`core.evaluation._curves_batch`). Replicates are drawn with ``numpy.random.default_rng(seed)``:
the same seed gives the same interval, but the numbers differ from pROC's (R's RNG) by Monte Carlo error only.
A replicate that lacks a class is left out and counted (``n_missing_class``).
"""

from __future__ import annotations

import math

import numpy as np

from core.evaluation import _curves_batch as CB
from core.evaluation._validation import both_classes, check_choice, check_confidence, check_positive_int, undefined
from core.evaluation.coords import INPUTS, _at, _prepare, _range, _values, pauc_from_points, roc_points


def _draw(rng, t: np.ndarray, stratified: bool):
    """Indices of one bootstrap replicate: cases and controls separately (stratified) or all together."""
    if stratified:
        pos, neg = np.flatnonzero(t == 1), np.flatnonzero(t == 0)
        return np.concatenate([rng.choice(neg, size=neg.size), rng.choice(pos, size=pos.size)])
    return rng.integers(0, t.size, size=t.size)


def _percentiles(values: np.ndarray, confidence: float) -> np.ndarray:
    """(low, median, high) per column, NaN replicates left out (R's quantile type 7 = numpy's default)."""
    q = [(1 - confidence) / 2, 0.5, (1 + confidence) / 2]
    out = np.full((values.shape[1], 3), math.nan)
    for j in range(values.shape[1]):
        col = values[:, j][np.isfinite(values[:, j])]
        if col.size:
            out[j] = np.quantile(col, q)
    return out


def _bootstrap(t, s, fn, *, n_boot, stratified, seed):
    """``fn(t_b, s_b) -> 1-D array`` over replicates; rows of NaN where a replicate lacks a class."""
    rng = np.random.default_rng(seed)
    first = np.atleast_1d(fn(t, s))
    values = np.full((n_boot, first.size), math.nan)
    missing = 0
    for b in range(n_boot):
        idx = _draw(rng, t, stratified)
        tb = t[idx]
        npos = int(tb.sum())
        if npos == 0 or npos == tb.size:
            missing += 1
            continue
        values[b] = fn(tb, s[idx])
    return first, values, missing


def _draws(t, *, n_boot, stratified, seed) -> np.ndarray:
    """(n_boot, N) case indices of all replicates, drawn in the same order as the one-by-one loop."""
    rng = np.random.default_rng(seed)
    return np.stack([_draw(rng, t, stratified) for _ in range(n_boot)])


def _batch(t, s, idx, fn) -> tuple[np.ndarray, int]:
    """``fn(se, sp, valid, prev) -> (b, k)`` over replicate chunks; NaN rows where a replicate lacks a class."""
    out, missing = [], 0
    for sl in CB.chunks(idx.shape[0], idx.shape[1]):
        se, sp, valid, prev, lacking = CB.curves(t, s, idx[sl])
        vals = np.atleast_2d(fn(se, sp, valid, prev))
        if vals.shape[0] != lacking.size:
            vals = vals.T
        vals = vals.astype(np.float64)
        vals[lacking] = math.nan
        missing += int(lacking.sum())
        out.append(vals)
    return np.concatenate(out), missing


def _ci_common(y_true, y_score, *, confidence, n_boot, stratified, seed, pos_label, direction):
    c = check_confidence(confidence)
    n_boot = check_positive_int(n_boot, name="n_boot")
    t, s, d = _prepare(y_true, y_score, pos_label, direction)
    return c, n_boot, t, s, d


def ci_coords(y_true, y_score, x, *, input: str = "specificity", n_boot: int = 2000, confidence: float = 0.95,
              stratified: bool = True, seed: int = 0, direction: str = "auto", pos_label=None) -> dict:
    """Bootstrap CIs of the sensitivity and specificity at given coordinates (pROC ``ci.coords``).

    Returns
    -------
    dict
        ``x``, ``input``, ``estimate`` ({"sensitivity": [...], "specificity": [...]} on the full data),
        ``sensitivity`` and ``specificity``: lists of ``[low, median, high]``, one per ``x``; ``n_boot``,
        ``n_missing_class`` (replicates without both classes, left out), ``stratified``, ``direction``.

    Examples
    --------
    >>> r = ci_coords([0, 0, 0, 1, 1, 1], [.1, .3, .5, .4, .7, .9], 0.5, n_boot=50, seed=1)
    >>> r["estimate"]["sensitivity"]
    [1.0]
    """
    check_choice(input, INPUTS, name="input")
    xs = _values(x, input, fraction=input != "threshold")
    c, n_boot, t, s, d = _ci_common(y_true, y_score, confidence=confidence, n_boot=n_boot, stratified=stratified,
                                    seed=seed, pos_label=pos_label, direction=direction)
    if not both_classes(t, "the ROC coordinates"):
        nan3 = [[math.nan] * 3 for _ in xs]
        return {"x": xs.tolist(), "input": input, "estimate": {"sensitivity": [math.nan] * xs.size,
                "specificity": [math.nan] * xs.size}, "sensitivity": nan3, "specificity": nan3,
                "n_boot": n_boot, "n_missing_class": n_boot, "stratified": stratified, "direction": d}
    xo = -xs if (input == "threshold" and d == ">") else xs

    def fn(tb, sb):
        se, sp, thr = roc_points(tb, sb)
        rows = [_at(se, sp, thr, float(v), input, sb) for v in xo]
        return np.array([r[0] for r in rows] + [r[1] for r in rows])

    if input == "threshold":
        first, values, missing = _bootstrap(t, s, fn, n_boot=n_boot, stratified=stratified, seed=seed)
    else:
        first = fn(t, s)

        def batch(se, sp, valid, prev):
            if input == "specificity":
                return np.stack([CB.se_at_sp(se, sp, valid, prev, float(v)) for v in xo]
                                + [np.full(se.shape[0], float(v)) for v in xo], axis=1)
            return np.stack([np.full(se.shape[0], float(v)) for v in xo]
                            + [CB.sp_at_se(se, sp, valid, prev, float(v)) for v in xo], axis=1)

        values, missing = _batch(t, s, _draws(t, n_boot=n_boot, stratified=stratified, seed=seed), batch)
    ci = _percentiles(values, c)
    k = xs.size
    return {"x": xs.tolist(), "input": input,
            "estimate": {"sensitivity": first[:k].tolist(), "specificity": first[k:].tolist()},
            "sensitivity": ci[:k].tolist(), "specificity": ci[k:].tolist(), "confidence": c,
            "n_boot": n_boot, "n_missing_class": missing, "stratified": stratified, "direction": d, "seed": seed}


def ci_se(y_true, y_score, specificities=tuple(np.linspace(0, 1, 11)), **kw) -> dict:
    """Sensitivity CIs at fixed specificities (pROC ``ci.se``); see :func:`ci_coords` for the keywords.

    Examples
    --------
    >>> r = ci_se([0, 0, 0, 1, 1, 1], [.1, .3, .5, .4, .7, .9], [0.9], n_boot=50)
    >>> len(r["sensitivity"][0])
    3
    """
    return ci_coords(y_true, y_score, specificities, input="specificity", **kw)


def ci_sp(y_true, y_score, sensitivities=tuple(np.linspace(0, 1, 11)), **kw) -> dict:
    """Specificity CIs at fixed sensitivities (pROC ``ci.sp``); see :func:`ci_coords`."""
    return ci_coords(y_true, y_score, sensitivities, input="sensitivity", **kw)


def ci_auc_bootstrap(y_true, y_score, *, n_boot: int = 2000, confidence: float = 0.95, stratified: bool = True,
                     seed: int = 0, partial: tuple | None = None, focus: str = "specificity", correct: bool = False,
                     direction: str = "auto", pos_label=None) -> dict:
    """Bootstrap percentile CI of the AUC or of a partial AUC (pROC ``ci.auc(method="bootstrap")``).

    ``partial=(lo, hi)`` switches to the partial AUC over that specificity (``focus``) range, optionally
    McClish-corrected: the CI pROC gives for a ``roc(partial.auc=...)`` object (DeLong does not apply to it).

    Returns
    -------
    dict
        ``estimate``, ``ci_low``, ``median``, ``ci_high``, ``n_boot``, ``n_missing_class``, ``stratified``,
        ``direction``, ``partial``.

    Examples
    --------
    >>> r = ci_auc_bootstrap([0, 0, 0, 1, 1, 1], [.1, .3, .5, .4, .7, .9], n_boot=100)
    >>> round(r["estimate"], 4)
    0.8889
    """
    check_choice(focus, ("specificity", "sensitivity"), name="focus")
    rng_limits = _range(partial, "partial") if partial is not None else None
    c, n_boot, t, s, d = _ci_common(y_true, y_score, confidence=confidence, n_boot=n_boot, stratified=stratified,
                                    seed=seed, pos_label=pos_label, direction=direction)
    out = {"n_boot": n_boot, "stratified": stratified, "direction": d, "confidence": c, "seed": seed,
           "partial": list(rng_limits) if rng_limits else None, "focus": focus, "correct": correct}
    if not both_classes(t, "the AUC"):
        return {**out, "estimate": math.nan, "ci_low": math.nan, "median": math.nan, "ci_high": math.nan,
                "n_missing_class": n_boot}

    lo, hi = rng_limits if rng_limits is not None else (0.0, 1.0)
    use_correct = correct and rng_limits is not None
    se0, sp0, _ = roc_points(t, s)
    first = np.array([pauc_from_points(se0, sp0, lo, hi, focus=focus, correct=use_correct)])
    values, missing = _batch(t, s, _draws(t, n_boot=n_boot, stratified=stratified, seed=seed),
                             lambda se, sp, valid, prev: CB.partial_area(se, sp, valid, prev, lo, hi, focus=focus,
                                                                         correct=use_correct)[:, None])
    low, med, high = _percentiles(values, c)[0]
    if missing == n_boot:
        undefined("the bootstrap interval is undefined: no replicate held both classes")
    return {**out, "estimate": float(first[0]), "ci_low": float(low), "median": float(med), "ci_high": float(high),
            "n_missing_class": missing}
