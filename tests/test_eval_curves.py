"""ROC/PR read-outs, multi-class averages, calibration, decision curves, bootstrap, subgroups."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from core.errors import InputError
from core.evaluation._validation import UndefinedMetricWarning
from core.evaluation.bootstrap import cluster_bootstrap_ci
from core.evaluation.calibration import brier_score, expected_calibration_error, reliability_curve
from core.evaluation.decision import decision_curve
from core.evaluation.multiclass import multiclass_metrics, multiclass_pr, multiclass_roc, true_class_probability
from core.evaluation.roc import (
    partial_auc, pr_curve, roc_auc, roc_curve, sensitivity_at_specificity, specificity_at_sensitivity,
    youden_threshold,
)
from core.evaluation.subgroups import mann_whitney, mann_whitney_by_group, resolve_column, subgroup_metrics


def _data(rng, n=120):
    y = rng.integers(0, 2, size=n)
    s = np.round(1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * (2 * y - 1)))), 2)
    return y, s


def _brute_operating_points(y, s):
    """Every threshold among the scores: (threshold, sensitivity, specificity), by direct counting."""
    out = []
    for t in np.unique(s):
        pred = s >= t
        out.append((t, pred[y == 1].mean(), (~pred)[y == 0].mean()))
    return out


def test_roc_pr_match_sklearn(rng):
    y, s = _data(rng)
    r = roc_curve(y, s)
    assert r["auc"] == pytest.approx(skm.roc_auc_score(y, s)) == pytest.approx(roc_auc(y, s))
    p = pr_curve(y, s)
    assert p["average_precision"] == pytest.approx(skm.average_precision_score(y, s))
    assert p["prevalence"] == pytest.approx(y.mean())


def test_youden_and_fixed_operating_points_against_brute_force(rng):
    y, s = _data(rng)
    pts = _brute_operating_points(y, s)
    best_j = max(se + sp - 1 for _, se, sp in pts)
    yj = youden_threshold(y, s)
    assert yj["j"] == pytest.approx(best_j)
    assert yj["sensitivity"] + yj["specificity"] - 1 == pytest.approx(best_j)
    for target in (0.8, 0.9, 0.95):
        want = max(se for _, se, sp in pts if sp >= target)
        got = sensitivity_at_specificity(y, s, specificity=target, method="empirical")
        assert got["sensitivity"] == pytest.approx(want) and got["specificity"] >= target
        want = max(sp for _, se, sp in pts if se >= target)
        got = specificity_at_sensitivity(y, s, sensitivity=target, method="empirical")
        assert got["specificity"] == pytest.approx(want) and got["sensitivity"] >= target


def test_partial_auc(rng):
    y, s = _data(rng)
    full = partial_auc(y, s, fpr_range=(0, 1))
    assert full == pytest.approx(skm.roc_auc_score(y, s))
    # McClish standardisation from 0 equals scikit-learn's max_fpr
    for hi in (0.1, 0.3):
        assert partial_auc(y, s, fpr_range=(0, hi), standardized=True) == pytest.approx(
            skm.roc_auc_score(y, s, max_fpr=hi))
    # pieces add up
    a = partial_auc(y, s, fpr_range=(0, 0.25)) + partial_auc(y, s, fpr_range=(0.25, 1))
    assert a == pytest.approx(full)
    with pytest.raises(InputError, match="high must exceed low"):
        partial_auc(y, s, fpr_range=(0.5, 0.2))


def test_multiclass_roc_matches_sklearn(rng):
    n, k = 200, 4
    y = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    names = ["anencephaly", "encephalocele", "holoprosencephaly", "rachischisis"]
    r = multiclass_roc(np.array(names)[y], proba, classes=names)
    assert r["macro_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    onehot = np.eye(k)[y]
    assert r["micro_auc"] == pytest.approx(skm.roc_auc_score(onehot, proba, average="micro"))
    for j, name in enumerate(names):
        assert r["per_class"][name]["auc"] == pytest.approx(skm.roc_auc_score(y == j, proba[:, j]))
    assert r["macro"]["fpr"][0] == 0 and r["macro"]["tpr"][-1] == pytest.approx(1.0)
    pr = multiclass_pr(y, proba)
    assert pr["per_class"][2]["average_precision"] == pytest.approx(skm.average_precision_score(y == 2, proba[:, 2]))
    m = multiclass_metrics(y, proba)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, proba.argmax(1)))
    assert m["confusion_matrix"].sum() == n
    assert true_class_probability(y, proba).tolist() == proba[np.arange(n), y].tolist()


def test_multiclass_absent_class_warns_and_bad_label_raises():
    proba = [[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]]
    with pytest.warns(UndefinedMetricWarning, match="'c'"):
        r = multiclass_roc(["a", "b", "a"], proba, classes=["a", "b", "c"])
    assert math.isnan(r["per_class"]["c"]["auc"]) and r["macro_auc"] == 1.0
    with pytest.raises(InputError, match=r"y_true\[1\] = 'x'"):
        multiclass_roc(["a", "x", "a"], proba, classes=["a", "b", "c"])


def test_calibration_by_hand():
    y = [0, 0, 1, 1, 1, 0]
    p = [0.1, 0.3, 0.35, 0.8, 0.9, 0.7]
    # bins of width 0.5: [0.1, 0.3, 0.35] -> observed 1/3, mean 0.25; [0.8, 0.9, 0.7] -> 2/3, mean 0.8
    ece = 0.5 * abs(1 / 3 - 0.25) + 0.5 * abs(2 / 3 - 0.8)
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(ece)
    r = reliability_curve(y, p, n_bins=2)
    assert r["fraction_positive"] == pytest.approx([1 / 3, 2 / 3]) and r["count"].tolist() == [3, 3]
    assert brier_score(y, p) == pytest.approx(np.mean((np.array(p) - np.array(y)) ** 2))
    with pytest.raises(InputError, match=r"y_prob\[0\] = 1.5"):
        brier_score([1], [1.5])


def test_decision_curve_by_hand(rng):
    y, s = _data(rng)
    r = decision_curve(y, s, thresholds=[0.2, 0.5])
    for i, t in enumerate((0.2, 0.5)):
        tp = np.sum((s >= t) & (y == 1))
        fp = np.sum((s >= t) & (y == 0))
        assert r["net_benefit"][i] == pytest.approx(tp / y.size - fp / y.size * t / (1 - t))
        prev = y.mean()
        assert r["treat_all"][i] == pytest.approx(prev - (1 - prev) * t / (1 - t))
    assert (r["treat_none"] == 0).all()
    assert decision_curve(y, s)["thresholds"].size == 99
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        decision_curve(y, s, thresholds=[0.0])


def test_cluster_bootstrap_is_seeded_and_keeps_patients_together(rng):
    patients = np.repeat(np.arange(40), 3)
    y = np.repeat(rng.integers(0, 2, size=40), 3)
    s = y * 0.8 + rng.normal(size=y.size) * 0.6
    a = cluster_bootstrap_ci(y, s, patients, n_boot=300, seed=7)
    b = cluster_bootstrap_ci(y, s, patients, n_boot=300, seed=7)
    assert a == b and a["n_clusters"] == 40 and a["n_valid"] == 300
    assert a["ci_low"] < a["estimate"] < a["ci_high"]
    assert a["estimate"] == pytest.approx(skm.roc_auc_score(y, s))
    # resampling images as if independent ignores the correlation: a narrower interval than per patient
    naive = cluster_bootstrap_ci(y, s, np.arange(y.size), n_boot=300, seed=7)
    assert naive["ci_high"] - naive["ci_low"] < a["ci_high"] - a["ci_low"]
    acc = cluster_bootstrap_ci(y, s, patients, metric=lambda t, v: float(np.mean((v >= 0.4) == t)), n_boot=50)
    assert 0 <= acc["ci_low"] <= acc["ci_high"] <= 1
    with pytest.raises(InputError, match="patient id"):
        cluster_bootstrap_ci([0, 1], [0.1, 0.2], ["a", None])


def test_subgroups_per_week_and_one_class_group():
    df = pd.DataFrame({
        "GA Week": [6, 6, 6, 6, 7, 7, 7, 8, 8],
        "Truth": [0, 1, 1, 0, 0, 0, 1, 0, 0],
        "CNN score": [0.2, 0.9, 0.4, 0.5, 0.1, 0.6, 0.8, 0.3, 0.2],
    })
    with pytest.warns(UndefinedMetricWarning, match=r"\[8\]"):
        table = subgroup_metrics(df, by="ga week", truth="truth", score="cnn score")
    assert table["group"].tolist() == [6, 7, 8, "all"]
    assert table["n"].tolist() == [4, 3, 2, 9]
    assert table.loc[0, "auc"] == pytest.approx(skm.roc_auc_score([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.5]))
    assert math.isnan(table.loc[2, "auc"]) and table.loc[2, "specificity"] == 1.0
    assert table.loc[3, "auc"] == pytest.approx(skm.roc_auc_score(df["Truth"], df["CNN score"]))


def test_resolve_column_rules():
    df = pd.DataFrame(columns=["Score", "score ", "Patient ID"])
    assert resolve_column(df, "Score") == "Score"
    assert resolve_column(df, "patient id") == "Patient ID"
    with pytest.raises(InputError, match="ambiguous"):
        resolve_column(df, "SCORE")
    with pytest.raises(InputError, match="not found"):
        resolve_column(df, "label")


def test_mann_whitney_matches_scipy_and_u_counts():
    from scipy.stats import mannwhitneyu

    a, b = [0.9, 0.8, 0.5, 0.5], [0.5, 0.2, 0.1]
    r = mann_whitney(a, b)
    # U = pairs with a > b, ties 1/2: 0.9, 0.8 beat all 3 (6); each 0.5 beats 2 and ties 1 (2 x 2.5)
    assert r["u"] == 11.0 and r["auc"] == pytest.approx(11 / 12)
    assert r["p_value"] == pytest.approx(mannwhitneyu(a, b).pvalue)
    df = pd.DataFrame({"after 20 weeks": ["no"] * 4 + ["yes"] * 3, "p_true": a + b})
    g = mann_whitney_by_group(df, by="After 20 Weeks", score="P_TRUE")
    assert g["groups"] == ["no", "yes"] and g["u"] == 11.0
    with pytest.raises(InputError, match="exactly two"):
        mann_whitney_by_group(pd.DataFrame({"w": [1, 2, 3], "s": [0.1, 0.2, 0.3]}), by="w", score="s")
