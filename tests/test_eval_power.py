"""Power and sample size against pROC's power.roc.test expectations (tests/testthat/test-power.roc.test.R)."""

import numpy as np
import pytest
from eval_reference_data import NDKA, OUTCOME, S100B, WFNS

from core.errors import InputError
from core.evaluation.delong import auc_midrank
from core.evaluation.power import hanley_mcneil_variance, power_auc, power_two_aucs


def test_one_curve_power_and_solutions_match_proc():
    auc = auc_midrank(OUTCOME, S100B)
    assert power_auc(auc=auc, n_cases=41, n_controls=72)["power"] == pytest.approx(0.9904833, abs=1e-6)
    assert power_auc(auc=0.73, n_cases=41, n_controls=72)["power"] == pytest.approx(0.9897453, abs=1e-6)
    n = power_auc(auc=auc, n_cases=None, power=0.95, kappa=1.7)
    assert (n["n_cases"], n["n_controls"]) == pytest.approx((29.29764, 49.806), rel=1e-6)
    s = power_auc(auc=0.73, n_cases=41, n_controls=72, power=0.95, sig_level=None)
    assert s["sig_level"] == pytest.approx(0.009238584, rel=1e-6)
    # pROC solves the AUC with uniroot's default tolerance (about 1.2e-4); ours is the exact root
    a = power_auc(auc=None, n_cases=41, n_controls=72, power=0.95)
    assert a["auc"] == pytest.approx(0.6961054, abs=1.2e-4)
    assert power_auc(auc=a["auc"], n_cases=41, n_controls=72)["power"] == pytest.approx(0.95, abs=1e-9)


def test_two_curves_delong_power_matches_proc():
    r = power_two_aucs(OUTCOME, NDKA, WFNS)
    assert (r["n_cases"], r["n_controls"]) == (41, 72)
    assert r["power"] == pytest.approx(0.7131594, abs=1e-6)
    n = power_two_aucs(OUTCOME, NDKA, WFNS, power=0.9)
    assert (n["n_cases"], n["n_controls"]) == pytest.approx((64.77777, 113.7561), rel=1e-6)


def test_hanley_mcneil_variance_is_exact_for_exponential_scores():
    """Hanley & McNeil derived Q1, Q2 for exponential distributions: the Monte Carlo variance must agree."""
    rng = np.random.default_rng(0)
    m = n = 40
    auc = 0.8                               # controls Exp(1), cases Exp(rate r): AUC = 1 / (1 + r)
    rate = 1 / auc - 1
    sims = [auc_midrank(np.r_[np.ones(m), np.zeros(n)],
                        np.r_[rng.exponential(1 / rate, m), rng.exponential(1.0, n)]) for _ in range(3000)]
    assert np.var(sims) == pytest.approx(hanley_mcneil_variance(auc, m, n), rel=0.08)


def test_power_bad_input():
    with pytest.raises(InputError, match="all but one"):
        power_auc(auc=0.7, n_cases=10, power=0.8)
    with pytest.raises(InputError, match="auc"):
        power_auc(auc=0.4, n_cases=10)
