"""Weighted Cohen's kappa and its SE against scikit-learn (point value) and statsmodels (SE, CI, null SE)."""

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa

from core.errors import InputError
from core.evaluation._validation import UndefinedMetricWarning
from core.evaluation.kappa import _table, cohen_kappa, kappa_from_table
from core.reader_study.agreement import cohen_pairs


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kappa_matches_sklearn_and_statsmodels(weights, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 6, 90)
    b = np.clip(a + rng.integers(-2, 3, 90), 1, 5)
    r = cohen_kappa(a, b, weights=weights)
    assert r["kappa"] == pytest.approx(cohen_kappa_score(a, b, weights=weights), abs=1e-12)
    table, _ = _table(a, b, None)
    sm = cohens_kappa(table, wt=weights) if weights else cohens_kappa(table)
    assert r["kappa"] == pytest.approx(sm.kappa, abs=1e-12)
    assert r["se"] == pytest.approx(sm.std_kappa, rel=1e-9)
    assert r["se0"] == pytest.approx(sm.std_kappa0, rel=1e-9)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((sm.kappa_low, sm.kappa_upp), rel=1e-9)
    assert r["p_value"] == pytest.approx(sm.pvalue_two_sided, rel=1e-9)


def test_hand_computed_two_by_two():
    # p_o = 0.7, p_e = 0.5 (Wikipedia "Cohen's kappa" example): kappa = 0.4
    r = kappa_from_table([[20, 5], [10, 15]])
    assert r["kappa"] == pytest.approx(0.4) and r["observed_agreement"] == pytest.approx(0.7)


def test_weights_reward_near_misses_and_labels_fix_the_scale():
    a, b = [1, 2, 3, 4, 5] * 4, [2, 3, 4, 5, 5] * 4
    assert cohen_kappa(a, b, weights="quadratic")["kappa"] > cohen_kappa(a, b)["kappa"]
    r = cohen_kappa(["low", "mid"], ["mid", "mid"], labels=["low", "mid", "high"])
    assert r["labels"] == ["low", "mid", "high"]


def test_kappa_undefined_and_bad_input():
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(cohen_kappa(["a", "a"], ["a", "a"])["kappa"])
    with pytest.raises(InputError, match="rater1 has 2"):
        cohen_kappa([1, 2], [1, 2, 3])
    with pytest.raises(InputError, match="not one of the labels"):
        cohen_kappa([1, 2], [1, 3], labels=[1, 2])
    with pytest.raises(InputError, match="weights"):
        cohen_kappa([1, 2], [1, 2], weights="cubic")


def test_reader_pairs_report_weighted_kappa_with_se():
    a = [1, 2, 3, 3, 2, 1, 4, 4]
    b = [1, 2, 3, 2, 2, 1, 4, 3]
    (pair,) = cohen_pairs({"r1": a, "r2": b}, categories=[1, 2, 3, 4], weights="linear")
    assert pair["kappa"] == pytest.approx(cohen_kappa_score(a, b, weights="linear"))
    assert pair["se"] > 0 and pair["ci_low"] < pair["kappa"] < pair["ci_high"]
