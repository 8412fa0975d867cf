"""The vectorised cluster bootstrap against a slow per-replicate loop (same draws), stratification, and the
count of replicates that lacked a class."""

import math

import numpy as np
import pytest

from core.evaluation._validation import UndefinedMetricWarning
from core.evaluation.bootstrap import (
    cluster_bootstrap_ci, cluster_counts, draw_clusters, gather, weighted_auc,
)
from core.evaluation.delong import auc_midrank


def _clustered(rng, k=300):
    sizes = rng.integers(1, 5, k)
    codes = np.repeat(np.arange(k), sizes)
    label = (rng.random(k) < 0.3).astype(np.int8)
    t = label[codes]
    s = np.round(rng.normal(size=t.size) + t, 1)        # rounded: ties inside and across clusters
    return t, s, codes, sizes


def test_weighted_auc_and_gather_equal_concatenating_loop(rng):
    t, s, codes, sizes = _clustered(rng)
    k = sizes.size
    drawn = draw_clusters(np.random.default_rng(1), 40, np.zeros(k, dtype=np.int8))
    members = [np.flatnonzero(codes == c) for c in range(k)]
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(k))
    slow = []
    for row in drawn:
        idx = np.concatenate([members[c] for c in row])
        assert np.array_equal(gather(row, starts, sizes, order), idx)
        slow.append(auc_midrank(t[idx], s[idx]))
    fast = weighted_auc(t, s, cluster_counts(drawn, k)[:, codes])
    np.testing.assert_allclose(fast, slow, atol=1e-13)


def test_default_auc_path_equals_generic_metric_path(rng):
    t, s, codes, _ = _clustered(rng)
    a = cluster_bootstrap_ci(t, s, codes, n_boot=300, seed=7)
    b = cluster_bootstrap_ci(t, s, codes, n_boot=300, seed=7, metric=auc_midrank)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((b["ci_low"], b["ci_high"]), abs=1e-13)
    assert a["estimate"] == pytest.approx(auc_midrank(t, s)) and a["stratified"] is False


def test_single_case_clusters_default_to_stratified_and_keep_class_counts(rng):
    t = (rng.random(60) < 0.2).astype(int)
    s = rng.normal(size=60) + t
    r = cluster_bootstrap_ci(t, s, None, n_boot=200, seed=0)
    assert r["stratified"] is True and r["n_missing_class"] == 0 and r["n_clusters"] == 60
    strata = t.astype(np.int8)
    drawn = draw_clusters(np.random.default_rng(0), 50, strata)
    assert (t[drawn].sum(axis=1) == t.sum()).all()          # every replicate keeps the observed positives


def test_replicates_lacking_a_class_are_counted_not_hidden():
    t = [0, 0, 0, 0, 0, 1, 0, 0]
    s = [.1, .2, .3, .4, .5, .9, .6, .7]
    with pytest.warns(UndefinedMetricWarning, match="lacked a class"):
        r = cluster_bootstrap_ci(t, s, list("aabbccde"), n_boot=400, seed=2)
    # the positive patient "d" is missed with probability (4/5)^5 = 0.328 per replicate
    assert 0.25 < r["n_missing_class"] / 400 < 0.40
    assert r["n_valid"] == 400 - r["n_missing_class"]
    strat = cluster_bootstrap_ci(t, s, list("aabbccde"), n_boot=400, seed=2, stratified=True)
    assert strat["n_missing_class"] == 0


def test_all_replicates_undefined_gives_nan():
    with pytest.warns(UndefinedMetricWarning):
        r = cluster_bootstrap_ci([0, 1], [0.2, 0.8], ["a", "b"], n_boot=20, metric=lambda t, s: math.nan)
    assert math.isnan(r["ci_low"])
