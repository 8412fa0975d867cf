"""Patient-cluster bootstrap confidence intervals for image-level metrics.

Why clusters: the miscarriage study has two images per patient and the CNS study many frames per clip. Images
of one patient are correlated, so an interval that resamples images as if independent is too narrow. The
cluster bootstrap resamples *patients* with replacement and keeps all of each drawn patient's images, which
preserves the within-patient correlation. Replicates in which the metric is undefined (e.g. no positive
patient drawn) are dropped and counted, never silently filled in.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from core.evaluation._validation import (
    check_binary_pair, check_confidence, check_positive_int, undefined,
)
from core.evaluation.delong import auc_midrank
from core.errors import InputError


def _group_codes(groups, n: int) -> np.ndarray:
    g = np.asarray(groups, dtype=object).reshape(-1)
    if g.size != n:
        raise InputError(f"groups has {g.size} values but y_true has {n}")
    for i, v in enumerate(g):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            raise InputError(f"groups[{i}] (the patient id) is missing")
    _, codes = np.unique(g.astype(str), return_inverse=True)
    return codes


def cluster_bootstrap_ci(y_true, y_score, groups, *, metric: Callable | None = None, n_boot: int = 2000,
                         confidence: float = 0.95, seed: int = 0, pos_label=None, progress=None) -> dict:
    """Percentile CI of ``metric(y_true, y_score)`` from resampling whole patients (clusters).

    Parameters
    ----------
    y_true, y_score : array-like
        Image-level truth (0/1 or two labels with ``pos_label``) and scores.
    groups : array-like
        Patient id of each image.
    metric : callable ``(y_true 0/1 ndarray, y_score ndarray) -> float``, optional
        Default: the AUC. NaN results mark an undefined replicate.
    n_boot : int
        Number of bootstrap replicates.
    seed : int
        Seed of the ``numpy.random.default_rng`` that draws the patients (same seed, same interval).
    progress : callable ``(done, total)``, optional

    Returns
    -------
    dict
        ``estimate`` (on the full data), ``ci_low``, ``ci_high``, ``n_boot``, ``n_valid``, ``n_clusters``.

    Examples
    --------
    >>> r = cluster_bootstrap_ci([0, 0, 1, 1, 0, 1], [.1, .3, .7, .8, .4, .6], ["a", "a", "b", "b", "c", "d"],
    ...                          n_boot=200, seed=1)
    >>> r["estimate"], r["n_clusters"]
    (1.0, 4)
    """
    c = check_confidence(confidence)
    n_boot = check_positive_int(n_boot, name="n_boot")
    t, s = check_binary_pair(y_true, y_score, pos_label=pos_label)
    codes = _group_codes(groups, t.size)
    metric = metric or auc_midrank
    estimate = float(metric(t, s))
    n_clusters = int(codes.max()) + 1
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(n_clusters + 1))
    members = [order[starts[k]:starts[k + 1]] for k in range(n_clusters)]
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    for b in range(n_boot):
        drawn = rng.integers(0, n_clusters, size=n_clusters)
        idx = np.concatenate([members[k] for k in drawn])
        values[b] = metric(t[idx], s[idx])
        if progress is not None and (b + 1) % max(1, n_boot // 100) == 0:
            progress(b + 1, n_boot)
    valid = values[np.isfinite(values)]
    if valid.size == 0:
        undefined("the bootstrap interval is undefined: the metric was undefined in every replicate")
        low = high = math.nan
    else:
        low, high = (float(v) for v in np.quantile(valid, [(1 - c) / 2, (1 + c) / 2]))
    return {"estimate": estimate, "ci_low": low, "ci_high": high, "n_boot": n_boot, "n_valid": int(valid.size),
            "n_clusters": n_clusters, "seed": seed}
