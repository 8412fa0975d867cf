"""Proportion CIs, likelihood ratios, calibration slope / intercept and multi-class AUCs against statsmodels and
scikit-learn (the reference implementations named in issue 21)."""

import math

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.proportion import proportion_confint

from core.errors import InputError
from core.evaluation._validation import UndefinedMetricWarning
from core.evaluation.binary import likelihood_ratios, proportion_ci
from core.evaluation.calibration import calibration_slope_intercept
from core.evaluation.multiclass_auc import multiclass_auc

COUNTS = [(0, 6), (1, 6), (4, 6), (6, 6), (17, 101), (95, 101), (0, 1)]


@pytest.mark.parametrize("ours, theirs", [("agresti-coull", "agresti_coull"), ("jeffreys", "jeffreys"),
                                          ("wilson", "wilson"), ("clopper-pearson", "beta")])
@pytest.mark.parametrize("k, n", COUNTS)
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_proportion_ci_matches_statsmodels(ours, theirs, k, n, confidence):
    got = proportion_ci(k, n, method=ours, confidence=confidence)
    want = proportion_confint(k, n, alpha=1 - confidence, method=theirs)
    assert got == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("tp, fp, fn, tn", [(4, 32, 2, 63), (40, 5, 10, 45), (3, 1, 30, 200)])
def test_likelihood_ratios_match_statsmodels_table2x2(tp, fp, fn, tn):
    r = likelihood_ratios(tp, fp, fn, tn)
    pos = Table2x2([[tp, fn], [fp, tn]])          # rows = disease status, first column = test positive
    neg = Table2x2([[fn, tp], [tn, fp]])
    assert r["lr_positive"]["value"] == pytest.approx(pos.riskratio)
    assert (r["lr_positive"]["ci_low"], r["lr_positive"]["ci_high"]) == pytest.approx(pos.riskratio_confint())
    assert r["lr_negative"]["value"] == pytest.approx(neg.riskratio)
    assert (r["lr_negative"]["ci_low"], r["lr_negative"]["ci_high"]) == pytest.approx(neg.riskratio_confint())
    assert r["dor"]["value"] == pytest.approx(pos.oddsratio)
    assert (r["dor"]["ci_low"], r["dor"]["ci_high"]) == pytest.approx(pos.oddsratio_confint())
    sens, spec = tp / (tp + fn), tn / (tn + fp)
    assert r["lr_positive"]["value"] == pytest.approx(sens / (1 - spec))


def test_likelihood_ratio_zero_cell_is_undefined():
    with pytest.warns(UndefinedMetricWarning):
        r = likelihood_ratios(5, 0, 1, 10)
    assert math.isnan(r["lr_positive"]["value"]) and math.isnan(r["dor"]["value"])
    assert r["lr_negative"]["value"] == pytest.approx((1 / 6) / (10 / 10))


@pytest.mark.parametrize("seed, power", [(0, 1.0), (1, 1.6), (2, 0.6)])
def test_calibration_slope_intercept_match_statsmodels(seed, power):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, 400)
    y = (rng.random(400) < p ** power).astype(int)
    r = calibration_slope_intercept(y, p)
    lp = np.log(p / (1 - p))
    fit = sm.Logit(y, sm.add_constant(lp)).fit(disp=0)
    assert r["slope"] == pytest.approx(fit.params[1], rel=1e-8)
    assert r["slope_fit_intercept"] == pytest.approx(fit.params[0], rel=1e-8, abs=1e-10)
    assert r["slope_ci"] == pytest.approx(list(fit.conf_int()[1]), rel=1e-7)
    citl = sm.GLM(y, np.ones((400, 1)), family=sm.families.Binomial(), offset=lp).fit()
    assert r["intercept"] == pytest.approx(citl.params[0], rel=1e-8, abs=1e-10)
    assert r["intercept_se"] == pytest.approx(citl.bse[0], rel=1e-7)


def test_calibration_of_perfectly_calibrated_predictions_is_near_ideal():
    rng = np.random.default_rng(5)
    p = rng.uniform(0.05, 0.95, 20000)
    y = (rng.random(p.size) < p).astype(int)
    r = calibration_slope_intercept(y, p)
    assert r["slope"] == pytest.approx(1.0, abs=0.06) and r["intercept"] == pytest.approx(0.0, abs=0.05)


def test_calibration_undefined_cases():
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(calibration_slope_intercept([1, 1], [0.2, 0.9])["slope"])
    with pytest.warns(UndefinedMetricWarning, match="converge"):
        calibration_slope_intercept([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])     # separable
    with pytest.raises(InputError, match="probability"):
        calibration_slope_intercept([0, 1], [0.2, 1.5])


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_auc_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = 250
    y = rng.choice(4, n, p=[0.5, 0.25, 0.15, 0.1])
    logits = np.round(rng.normal(size=(n, 4)), 1)
    logits[np.arange(n), y] += 1.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    r = multiclass_auc(y, proba, n_boot=100, seed=seed)
    for summary, mc, avg in [("ovo_macro", "ovo", "macro"), ("ovo_weighted", "ovo", "weighted"),
                             ("ovr_macro", "ovr", "macro"), ("ovr_weighted", "ovr", "weighted")]:
        assert r[summary] == pytest.approx(roc_auc_score(y, proba, multi_class=mc, average=avg), abs=1e-12)
        low, high = r["ci"][summary]
        assert low < r[summary] < high
    assert len(r["pairs"]) == 6


def test_multiclass_auc_with_class_names_and_one_class():
    r = multiclass_auc(["a", "b", "c"], [[.8, .1, .1], [.2, .7, .1], [.1, .2, .7]], classes=["a", "b", "c"])
    assert r["ovo_macro"] == 1.0 and set(r["pairs"]) == {"a|b", "a|c", "b|c"}
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(multiclass_auc([0, 0], [[.6, .4], [.7, .3]])["ovo_macro"])
