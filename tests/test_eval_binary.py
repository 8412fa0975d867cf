"""Binary metrics at a threshold: hand-computed CIs, the paper's Table 3 from counts, validation."""

import math
import warnings

import numpy as np
import pytest

from core.errors import InputError
from core.evaluation._validation import UndefinedMetricWarning
from core.evaluation.binary import (
    binary_metrics, confusion_counts, confusion_matrix, f1_from_counts, metrics_from_counts, proportion_ci,
    single_point_auc,
)
from core.evaluation.delong import delong_ci
from core.evaluation.rule_metrics import rule_performance

Z95 = 1.959963984540054


def wilson_by_hand(k, n, z=Z95):
    # the textbook form: (k + z^2/2 ± z sqrt(k(n-k)/n + z^2/4)) / (n + z^2)
    centre = k + z * z / 2
    half = z * math.sqrt(k * (n - k) / n + z * z / 4)
    return (centre - half) / (n + z * z), (centre + half) / (n + z * z)


@pytest.mark.parametrize("k,n,expected", [
    (4, 6, (0.299993, 0.903229)),     # sensitivity 4/6 of the CRL rule
    (63, 95, (0.563426, 0.750208)),   # specificity 63/95 of the CRL rule
    (0, 10, (0.0, 0.277533)),
    (10, 10, (0.722467, 1.0)),
])
def test_wilson_matches_hand_computed(k, n, expected):
    low, high = proportion_ci(k, n)
    assert low == pytest.approx(expected[0], abs=1e-6)
    assert high == pytest.approx(expected[1], abs=1e-6)
    ref = wilson_by_hand(k, n)
    assert (low, high) == pytest.approx(ref, abs=1e-12)


def test_clopper_pearson_closed_forms():
    # k = 0: upper = 1 - (alpha/2)^(1/n); k = n: lower = (alpha/2)^(1/n)
    low, high = proportion_ci(0, 10, method="clopper-pearson")
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-12)
    low, high = proportion_ci(7, 7, method="clopper-pearson")
    assert high == 1.0 and low == pytest.approx(0.025 ** (1 / 7), abs=1e-12)
    # 4/6 from a beta quantile table (R: binom.test(4, 6)$conf.int = 0.2227781 0.9567281)
    low, high = proportion_ci(4, 6, method="clopper-pearson")
    assert (low, high) == pytest.approx((0.2227781, 0.9567281), abs=1e-6)


def test_clopper_pearson_is_wider_than_wilson():
    for k, n in [(1, 5), (3, 20), (50, 100)]:
        w, c = proportion_ci(k, n), proportion_ci(k, n, method="clopper-pearson")
        assert c[0] <= w[0] and c[1] >= w[1]


def _cases(tp, fn, tn, fp):
    y = np.array([1] * (tp + fn) + [0] * (tn + fp))
    flag = np.array([1] * tp + [0] * fn + [0] * tn + [1] * fp)
    return y, flag


# Table 3 of the miscarriage paper (6 miscarriages, 95 live births): sens %, spec %, AUC
TABLE3 = {
    "CRL": ((4, 2, 63, 32), (66.67, 66.32, 0.665)),
    "HR": ((3, 3, 80, 15), (50.00, 84.21, 0.671)),
    "CRL+HR": ((3, 3, 83, 12), (50.00, 87.37, 0.687)),
}


@pytest.mark.parametrize("rule", list(TABLE3))
def test_table3_rule_rows_from_counts(rule):
    (tp, fn, tn, fp), (sens, spec, auc) = TABLE3[rule]
    y, flag = _cases(tp, fn, tn, fp)
    assert y.sum() == 6 and (y == 0).sum() == 95
    m = binary_metrics(y, y_pred=flag)
    assert round(m["sensitivity"]["value"] * 100, 2) == sens
    assert round(m["specificity"]["value"] * 100, 2) == spec
    assert round(m["auc"], 3) == auc
    # the same single-point AUC from the DeLong machinery on the 0/1 flags used as a score
    assert delong_ci(y, flag)["auc"] == pytest.approx(m["auc"], abs=1e-12)
    assert rule_performance(y, flag.astype(bool))["auc"] == pytest.approx(m["auc"], abs=1e-12)
    # each CI brackets its estimate
    for name in ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1"):
        d = m[name]
        assert d["ci_low"] <= d["value"] <= d["ci_high"]


def test_metrics_from_counts_values():
    m = metrics_from_counts(tp=8, fp=2, fn=4, tn=6)
    assert m["accuracy"]["value"] == 14 / 20
    assert m["ppv"]["value"] == 8 / 10
    assert m["npv"]["value"] == 6 / 10
    assert m["f1"]["value"] == pytest.approx(2 * 0.8 * (8 / 12) / (0.8 + 8 / 12))
    assert single_point_auc(8 / 12, 6 / 8) == pytest.approx(m["auc"])


def test_f1_interval_is_mapped_from_jaccard_interval():
    r = f1_from_counts(3, 1, 1)
    q_low, q_high = proportion_ci(3, 5)
    assert r["ci_low"] == pytest.approx(2 * q_low / (1 + q_low))
    assert r["ci_high"] == pytest.approx(2 * q_high / (1 + q_high))
    assert r["ci_low"] < 0.75 < r["ci_high"]


def test_threshold_convention_and_confusion_matrix():
    y = [1, 1, 0, 0, 1]
    s = [0.5, 0.49, 0.5, 0.1, 0.9]
    c = confusion_counts(y, (np.asarray(s) >= 0.5).astype(int))
    assert c == {"tp": 2, "fp": 1, "fn": 1, "tn": 1}
    m = binary_metrics(y, s, threshold=0.5)
    assert m["counts"]["tp"] == 2 and m["threshold"] == 0.5
    assert confusion_matrix(y, [1, 0, 1, 0, 1]).tolist() == [[1, 1], [1, 2]]


def test_two_labels_need_pos_label():
    with pytest.raises(InputError, match="pos_label"):
        binary_metrics(["live", "miscarriage"], [0.1, 0.9])
    m = binary_metrics(["live", "miscarriage", "live"], [0.1, 0.9, 0.7], pos_label="miscarriage")
    assert m["counts"] == {"tp": 1, "fp": 1, "fn": 0, "tn": 1, "n": 3, "n_pos": 1, "n_neg": 2}


@pytest.mark.parametrize("y,s,match", [
    ([0, 1, 2], [0.1, 0.2, 0.3], r"y_true\[2\] = 2"),
    ([0, 1], [0.1, "abc"], r"y_score\[1\] = 'abc'"),
    ([0, 1], [0.1, float("nan")], r"y_score\[1\]"),
    ([0, 1, 1], [0.1, 0.2], "3 values"),
    ([], [], "empty"),
])
def test_bad_inputs_raise_input_error_showing_value(y, s, match):
    with pytest.raises(InputError, match=match):
        binary_metrics(y, s)


def test_bad_options():
    with pytest.raises(InputError, match="method"):
        proportion_ci(1, 2, method="wald")
    with pytest.raises(InputError, match="confidence"):
        proportion_ci(1, 2, confidence=95)
    with pytest.raises(InputError, match="exceeds"):
        proportion_ci(3, 2)


def test_undefined_metrics_warn_and_give_nan():
    with pytest.warns(UndefinedMetricWarning, match="sensitivity"):
        m = binary_metrics([0, 0, 0], [0.1, 0.2, 0.9])
    assert math.isnan(m["sensitivity"]["value"]) and math.isnan(m["sensitivity"]["ci_low"])
    assert m["specificity"]["value"] == pytest.approx(2 / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        binary_metrics([0, 1], [0.1, 0.9])   # fully defined: no warning at all
