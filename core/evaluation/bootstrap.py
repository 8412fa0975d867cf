"""Patient-cluster bootstrap confidence intervals for image-level metrics, vectorised.

Why clusters: the miscarriage study has two images per patient and the CNS study many frames per clip. Images
of one patient are correlated, so an interval that resamples images as if independent is too narrow. The
cluster bootstrap resamples *patients* with replacement and keeps all of each drawn patient's images, which
preserves the within-patient correlation.

Why vectorised: a replicate is only "how often was each patient drawn". For the AUC that count is a weight on
each image, and the weighted Mann-Whitney statistic of every replicate follows from one global sort (tie
blocks summed with ``np.add.reduceat``), so 2000 replicates over 3000 patients cost a few matrix passes
instead of 2000 Python-level concatenations. Any other metric gets the images of a replicate gathered with
precomputed per-cluster offsets (``np.repeat`` of start positions plus a running index), again without a loop
over clusters.

Stratified resampling (pROC's default for single cases): clusters are drawn separately within each class so
every replicate keeps the observed number of positive and negative clusters; a cluster's class is whether it
holds any positive image. It is the default when every cluster is one case. Replicates in which the metric is
undefined (e.g. no positive patient drawn) are never filled in: they are left out and counted in
``n_missing_class``, and a warning says how many.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np

from core.evaluation._validation import (
    UndefinedMetricWarning, check_binary_pair, check_confidence, check_positive_int, undefined,
)
from core.errors import InputError

_CHUNK_CELLS = 4_000_000          # replicates x images per block of the weighted AUC (about 32 MB of float64)


def _group_codes(groups, n: int) -> np.ndarray:
    g = np.asarray(groups, dtype=object).reshape(-1)
    if g.size != n:
        raise InputError(f"groups has {g.size} values but y_true has {n}")
    for i, v in enumerate(g):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            raise InputError(f"groups[{i}] (the patient id) is missing")
    _, codes = np.unique(g.astype(str), return_inverse=True)
    return codes.reshape(-1)


def draw_clusters(rng: np.random.Generator, n_boot: int, strata: np.ndarray) -> np.ndarray:
    """(n_boot, K) cluster indices: each row resamples the K clusters with replacement within each stratum."""
    k = strata.size
    out = np.empty((n_boot, k), dtype=np.int64)
    col = 0
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        out[:, col:col + members.size] = members[rng.integers(0, members.size, size=(n_boot, members.size))]
        col += members.size
    return out


def cluster_counts(drawn: np.ndarray, n_clusters: int) -> np.ndarray:
    """(n_boot, K) how often each cluster was drawn in each replicate (one bincount over offset indices)."""
    b = drawn.shape[0]
    flat = drawn + (np.arange(b, dtype=np.int64) * n_clusters)[:, None]
    return np.bincount(flat.ravel(), minlength=b * n_clusters).reshape(b, n_clusters)


def gather(drawn_row: np.ndarray, starts: np.ndarray, sizes: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Image indices of one replicate: every image of every drawn cluster, from precomputed offsets."""
    sz = sizes[drawn_row]
    total = int(sz.sum())
    offsets = np.repeat(starts[drawn_row] - np.cumsum(sz) + sz, sz)
    return order[offsets + np.arange(total)]


def weighted_auc(t: np.ndarray, s: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC (ties 1/2) of each row of case ``weights`` (B, N); NaN where a class has weight 0."""
    order = np.argsort(s, kind="mergesort")
    ss, tt = s[order], t[order]
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    is_pos = tt == 1
    ties = starts.size < s.size
    out = np.empty(weights.shape[0])
    step = max(1, _CHUNK_CELLS // max(1, s.size))
    for lo in range(0, weights.shape[0], step):
        # (N, b) layout: the tie-block sums run down contiguous rows, and reduceat is fast along axis 0.
        w = np.ascontiguousarray(weights[lo:lo + step][:, order].T, dtype=np.float64)
        wp = w * is_pos[:, None]
        wn = w - wp
        if ties:
            wp, wn = np.add.reduceat(wp, starts, axis=0), np.add.reduceat(wn, starts, axis=0)
        below = np.cumsum(wn, axis=0) - wn
        num = np.einsum("gb,gb->b", wp, below + 0.5 * wn)
        den = wp.sum(axis=0) * wn.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[lo:lo + step] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def _auc(t, s) -> float:
    return float(weighted_auc(t, s, np.ones((1, t.size)))[0])


def cluster_bootstrap_ci(y_true, y_score, groups=None, *, metric: Callable | None = None, n_boot: int = 2000,
                         confidence: float = 0.95, seed: int = 0, stratified: bool | None = None, pos_label=None,
                         progress=None) -> dict:
    """Percentile CI of ``metric(y_true, y_score)`` from resampling whole patients (clusters).

    Parameters
    ----------
    y_true, y_score : array-like
        Image-level truth (0/1 or two labels with ``pos_label``) and scores.
    groups : array-like, optional
        Patient id of each image; None = every image its own cluster (pROC's ``ci.auc(method="bootstrap")``).
    metric : callable ``(y_true 0/1 ndarray, y_score ndarray) -> float``, optional
        Default: the AUC (computed for all replicates at once). NaN results mark an undefined replicate.
    n_boot : int
        Number of bootstrap replicates.
    seed : int
        Seed of the ``numpy.random.default_rng`` that draws the patients (same seed, same interval).
    stratified : bool, optional
        Resample positive and negative clusters separately (pROC ``boot.stratified``). Default: True when
        every cluster is one case, else False.
    progress : callable ``(done, total)``, optional

    Returns
    -------
    dict
        ``estimate`` (on the full data), ``ci_low``, ``ci_high``, ``n_boot``, ``n_valid``, ``n_missing_class``
        (replicates that lacked a class, left out), ``n_clusters``, ``stratified``, ``seed``.

    Examples
    --------
    >>> r = cluster_bootstrap_ci([0, 0, 1, 1, 0, 1], [.1, .3, .7, .8, .4, .6], ["a", "a", "b", "b", "c", "d"],
    ...                          n_boot=200, seed=1)
    >>> r["estimate"], r["n_clusters"], r["stratified"]
    (1.0, 4, False)
    """
    c = check_confidence(confidence)
    n_boot = check_positive_int(n_boot, name="n_boot")
    t, s = check_binary_pair(y_true, y_score, pos_label=pos_label)
    codes = np.arange(t.size) if groups is None else _group_codes(groups, t.size)
    n_clusters = int(codes.max()) + 1
    sizes = np.bincount(codes, minlength=n_clusters)
    if stratified is None:
        stratified = bool((sizes == 1).all())
    strata = np.zeros(n_clusters, dtype=np.int8)
    if stratified:
        np.maximum.at(strata, codes, t)
    rng = np.random.default_rng(seed)
    drawn = draw_clusters(rng, n_boot, strata)
    cluster_pos = np.bincount(codes, weights=t, minlength=n_clusters)
    pos_drawn = cluster_pos[drawn].sum(axis=1)
    neg_drawn = sizes[drawn].sum(axis=1) - pos_drawn
    lacking = (pos_drawn == 0) | (neg_drawn == 0)
    if metric is None:
        estimate = _auc(t, s)
        counts = cluster_counts(drawn, n_clusters)
        values = weighted_auc(t, s, counts[:, codes])
        if progress is not None:
            progress(n_boot, n_boot)
    else:
        estimate = float(metric(t, s))
        order = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[order], np.arange(n_clusters))
        values = np.full(n_boot, math.nan)
        for b in range(n_boot):
            if not lacking[b]:
                idx = gather(drawn[b], starts, sizes, order)
                values[b] = metric(t[idx], s[idx])
            if progress is not None and (b + 1) % max(1, n_boot // 100) == 0:
                progress(b + 1, n_boot)
    values[lacking] = math.nan
    valid = values[np.isfinite(values)]
    n_missing = int(lacking.sum())
    if n_missing and valid.size:
        warnings.warn(f"{n_missing} of {n_boot} bootstrap replicates lacked a class and were left out",
                      UndefinedMetricWarning, stacklevel=2)
    if valid.size == 0:
        undefined("the bootstrap interval is undefined: the metric was undefined in every replicate")
        low = high = math.nan
    else:
        low, high = (float(v) for v in np.quantile(valid, [(1 - c) / 2, (1 + c) / 2]))
    return {"estimate": estimate, "ci_low": low, "ci_high": high, "n_boot": n_boot, "n_valid": int(valid.size),
            "n_missing_class": n_missing, "n_clusters": n_clusters, "stratified": stratified, "seed": seed}
