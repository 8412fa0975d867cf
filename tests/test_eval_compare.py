"""Two-curve tests against pROC's roc.test expectations (aSAH) and slow literal references.

References: xrobin/pROC tests/testthat/test-roc.test.R ("roc.test statistic and p are as expected with
defaults", "unpaired roc.test statistic and p are as expected"); the bootstrap and Venkatraman tests depend on
R's RNG, so they are checked against literal transliterations of pROC's R code (R/bootstrap.R,
R/venkatraman.R) drawing the same random numbers, plus properties (identical curves, symmetry).
"""

import math

import numpy as np
import pytest
from eval_reference_data import NDKA, OUTCOME, S100B, WFNS
from scipy import stats

from core.errors import InputError
from core.evaluation.delong import auc_midrank
from core.evaluation.roc_tests import (
    bootstrap_test, roc_test, unpaired_delong_test, venkatraman_paired_stat, venkatraman_test,
    venkatraman_unpaired_stat,
)


@pytest.mark.parametrize("a, b, z, p, ci", [
    (WFNS, S100B, 2.20898359144091, 0.0271757822291882, (0.0104061769564846, 0.174214419249478)),
    (WFNS, NDKA, 2.79777591868904, 0.00514557970691098, (0.0634011709339876, 0.3600405634833566)),
])
def test_paired_delong_matches_proc(a, b, z, p, ci):
    r = roc_test(OUTCOME, a, b)
    assert r["statistic"] == pytest.approx(z, rel=1e-12) and r["p_value"] == pytest.approx(p, rel=1e-10)
    assert r["difference_ci"] == pytest.approx(list(ci), rel=1e-10)


@pytest.mark.parametrize("a, b, d, p", [
    (WFNS, S100B, 1.43490640926908, 0.152825378808796),
    (WFNS, NDKA, 3.10125096778969, 0.00220950791756457),
    (NDKA, S100B, -1.55995743389685, 0.120192832430845),
])
def test_unpaired_delong_matches_proc(a, b, d, p):
    r = unpaired_delong_test(OUTCOME, a, OUTCOME, b)
    assert r["statistic"] == pytest.approx(d, rel=1e-12) and r["p_value"] == pytest.approx(p, rel=1e-10)
    flipped = roc_test(OUTCOME, b, a, paired=False)
    assert flipped["statistic"] == pytest.approx(-d) and flipped["p_value"] == pytest.approx(p)
    assert r["difference_ci"][0] < r["difference"] < r["difference_ci"][1]


def test_unpaired_delong_on_different_samples():
    rng = np.random.default_rng(0)
    t1, t2 = rng.integers(0, 2, 80), rng.integers(0, 2, 50)
    s1, s2 = rng.normal(size=80) + t1, rng.normal(size=50) + 0.3 * t2
    r = unpaired_delong_test(t1, s1, t2, s2)
    assert r["n1"] == 80 and r["n2"] == 50
    assert r["auc1"] == pytest.approx(auc_midrank(t1, s1)) and r["auc2"] == pytest.approx(auc_midrank(t2, s2))


def _slow_bootstrap(t, a, b, n_boot, seed, paired):
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(t == 1), np.flatnonzero(t == 0)
    diffs = []
    for _ in range(n_boot):
        i1 = np.concatenate([rng.choice(neg, size=neg.size), rng.choice(pos, size=pos.size)])
        i2 = i1 if paired else np.concatenate([rng.choice(neg, size=neg.size), rng.choice(pos, size=pos.size)])
        diffs.append(auc_midrank(t[i1], a[i1]) - auc_midrank(t[i2], b[i2]))
    d = (auc_midrank(t, a) - auc_midrank(t, b)) / np.std(diffs, ddof=1)
    return d, 2 * stats.norm.sf(abs(d))


@pytest.mark.parametrize("paired", [True, False])
def test_bootstrap_test_against_slow_reference(paired):
    r = bootstrap_test(OUTCOME, WFNS, S100B, n_boot=300, seed=4, paired=paired)
    d, p = _slow_bootstrap(OUTCOME, WFNS, S100B, 300, 4, paired)
    assert r["statistic"] == pytest.approx(d, rel=1e-10) and r["p_value"] == pytest.approx(p, rel=1e-10)
    delong = roc_test(OUTCOME, WFNS, S100B, paired=paired)["statistic"]
    assert abs(r["statistic"] - delong) < 0.35          # both estimate the same SD of the difference


def test_bootstrap_test_partial_auc_and_identical_curves():
    r = bootstrap_test(OUTCOME, WFNS, S100B, n_boot=100, partial=(1, 0.9))
    assert r["auc1"] == pytest.approx(0.0334417344173442) and r["partial"] == [0.9, 1.0]
    same = bootstrap_test(OUTCOME, WFNS, WFNS, n_boot=50)
    assert same["statistic"] == 0.0 and same["p_value"] == 1.0


def _rank_first(x):
    return np.argsort(np.argsort(x, kind="stable"), kind="stable") + 1


def _r_paired_stat(R, S, D):
    """venkatraman.paired.stat, literally: sapply over x = 1..n."""
    n = len(D)
    rc, rn, sc, sn = R[D == 1], R[D == 0], S[D == 1], S[D == 0]
    return sum(abs((np.sum(sc <= x) + np.sum(sn > x)) - (np.sum(rc <= x) + np.sum(rn > x))) for x in range(1, n + 1))


def test_venkatraman_paired_statistic_and_permutations_match_literal_r():
    R, S = _rank_first(S100B), _rank_first(WFNS)
    e = venkatraman_paired_stat(R, S, OUTCOME == 1)
    assert e == _r_paired_stat(R, S, OUTCOME) == 578
    r = venkatraman_test(OUTCOME, S100B, WFNS, n_boot=60, seed=9)
    rng = np.random.default_rng(9)
    n = OUTCOME.size
    perm = []
    for _ in range(60):                                  # venkatraman.paired.permutation, literally
        R2 = R + rng.random(n) - 0.5
        S2 = S + rng.random(n) - 0.5
        q = 1 - np.round(rng.random(n))
        R3, S3 = R2 * q + (1 - q) * S, S2 * q + (1 - q) * R
        perm.append(_r_paired_stat(_rank_first(R3), _rank_first(S3), OUTCOME))
    assert r["statistic"] == 578 and r["p_value"] == pytest.approx(np.sum(np.array(perm) >= 578) / 60)


def test_venkatraman_identical_curves_and_unpaired_statistic():
    same = venkatraman_test(OUTCOME, WFNS, WFNS, n_boot=30)
    assert same["statistic"] == 0 and same["p_value"] == 1.0
    R, S = _rank_first(S100B), _rank_first(WFNS)
    c = OUTCOME == 1
    mp = c.mean()
    got = venkatraman_unpaired_stat(R, S, c, c, mp)

    def r_unpaired():       # venkatraman.unpaired.stat with approxfun (ties averaged) and na.rm sum
        n = len(R)
        def fx(ranks):
            cases, ctrls = ranks[c], ranks[~c]
            f = np.array([np.sum(cases <= x) for x in range(1, n + 1)]) / cases.size
            g = np.array([np.sum(ctrls <= x) for x in range(1, n + 1)]) / ctrls.size
            return mp * f + (1 - mp) * g, mp * f + (1 - mp) * (1 - g)
        rp, re_ = fx(R)
        sp, se = fx(S)
        x = np.sort(np.r_[rp, sp])
        def approx(px, py, at):
            ux = np.unique(px)
            uy = np.array([py[px == u].mean() for u in ux])
            out = np.interp(at, ux, uy)
            out[(at < ux[0]) | (at > ux[-1])] = np.nan
            return out
        y = np.abs(approx(rp, re_, x) - approx(sp, se, x))
        return np.nansum((y[1:] + y[:-1]) * np.diff(x) / 2)

    assert got == pytest.approx(r_unpaired(), abs=1e-12) and got > 0
    r = venkatraman_test(OUTCOME, S100B, WFNS, y_true2=OUTCOME, n_boot=40)
    assert r["paired"] is False and 0 <= r["p_value"] <= 1


def test_compare_bad_input():
    with pytest.raises(InputError, match="method"):
        roc_test(OUTCOME, WFNS, S100B, method="wilcoxon")
    with pytest.raises(InputError, match="paired"):
        bootstrap_test(OUTCOME, WFNS, S100B[:50], y_true2=OUTCOME[:50], paired=True, n_boot=10)
    with pytest.raises(InputError, match="one class"):
        unpaired_delong_test([1, 1, 1], [1, 2, 3], OUTCOME, WFNS)
    assert math.isfinite(roc_test(OUTCOME, WFNS, S100B, method="venkatraman", n_boot=10)["p_value"])
