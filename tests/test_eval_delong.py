"""DeLong: the fast midrank algorithm against a plain O(n^2) pairwise reference, on data with ties."""

import math
import time

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from core.errors import InputError
from core.evaluation._validation import UndefinedMetricWarning
from core.evaluation.delong import delong_ci, delong_covariance, delong_test

Z95 = 1.959963984540054


def reference_delong(y, scores):
    """O(m n) DeLong (1988): psi(x, y) = 1 if x > y, 1/2 if equal, 0 otherwise; explicit sums, no shortcuts."""
    y = np.asarray(y)
    k = len(scores)
    v10, v01, aucs = [], [], []
    for s in scores:
        s = np.asarray(s, dtype=float)
        x, yy = s[y == 1], s[y == 0]
        psi = (x[:, None] > yy[None, :]).astype(float) + 0.5 * (x[:, None] == yy[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        aucs.append(psi.mean())
    m, n = len(v10[0]), len(v01[0])
    cov = np.zeros((k, k))
    for r in range(k):
        for q in range(k):
            s10 = sum((v10[r][i] - aucs[r]) * (v10[q][i] - aucs[q]) for i in range(m)) / (m - 1)
            s01 = sum((v01[r][j] - aucs[r]) * (v01[q][j] - aucs[q]) for j in range(n)) / (n - 1)
            cov[r, q] = s10 / m + s01 / n
    return np.array(aucs), cov


def _tied_data(rng, n=150):
    y = rng.integers(0, 2, size=n)
    s1 = np.round(rng.normal(size=n) + 0.8 * y, 1)                      # many ties
    s2 = np.round(0.5 * s1 + rng.normal(size=n) * 0.7, 0)                # heavy ties, correlated with s1
    return y, s1, s2


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fast_equals_pairwise_reference_with_ties(seed):
    rng = np.random.default_rng(seed)
    y, s1, s2 = _tied_data(rng)
    assert len(np.unique(s1)) < len(s1) and len(np.unique(s2)) < len(s2) / 3
    aucs, cov = delong_covariance(y, s1, s2)
    ref_aucs, ref_cov = reference_delong(y, [s1, s2])
    np.testing.assert_allclose(aucs, ref_aucs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, rtol=0, atol=1e-12)

    # variance and CI of one AUC
    d = delong_ci(y, s1)
    assert abs(d["variance"] - ref_cov[0, 0]) < 1e-9
    se = math.sqrt(ref_cov[0, 0])
    assert abs(d["ci_low"] - max(0, ref_aucs[0] - Z95 * se)) < 1e-9
    assert abs(d["ci_high"] - min(1, ref_aucs[0] + Z95 * se)) < 1e-9

    # paired test: z from the reference covariance, p = erfc(|z| / sqrt 2)
    t = delong_test(y, s1, s2)
    var_diff = ref_cov[0, 0] + ref_cov[1, 1] - 2 * ref_cov[0, 1]
    z = (ref_aucs[0] - ref_aucs[1]) / math.sqrt(var_diff)
    assert abs(t["z"] - z) < 1e-9
    assert abs(t["p_value"] - math.erfc(abs(z) / math.sqrt(2))) < 1e-9
    assert abs(t["covariance"] - ref_cov[0, 1]) < 1e-9


@pytest.mark.parametrize("seed", [5, 6])
def test_auc_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    y, s1, s2 = _tied_data(rng, n=300)
    assert delong_ci(y, s1)["auc"] == pytest.approx(roc_auc_score(y, s1), abs=1e-12)
    assert delong_test(y, s1, s2)["auc2"] == pytest.approx(roc_auc_score(y, s2), abs=1e-12)


def test_hand_computed_small_case():
    # positives {0.35, 0.8}, negatives {0.1, 0.4}: pairs won 1+1+1+0 -> AUC 3/4
    # V10 = [1/2, 1], V01 = [1, 1/2]; S10 = S01 = 1/8; var = 1/16 + 1/16 = 1/8
    aucs, cov = delong_covariance([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert aucs[0] == 0.75
    assert cov[0, 0] == pytest.approx(0.125, abs=1e-15)


def test_identical_scores_make_the_test_undefined():
    rng = np.random.default_rng(0)
    y, s1, _ = _tied_data(rng, n=40)
    with pytest.warns(UndefinedMetricWarning, match="zero variance"):
        t = delong_test(y, s1, s1)
    assert math.isnan(t["p_value"]) and t["auc1"] == t["auc2"]


def test_one_class_gives_nan_with_warning():
    with pytest.warns(UndefinedMetricWarning):
        d = delong_ci([1, 1, 1], [0.1, 0.2, 0.3])
    assert math.isnan(d["auc"]) and math.isnan(d["ci_low"])


def test_bad_input_names_the_value():
    with pytest.raises(InputError, match=r"y_score2\[1\] = 'x'"):
        delong_test([0, 1, 1], [0.1, 0.2, 0.3], [0.1, "x", 0.3])
    with pytest.raises(InputError, match="confidence"):
        delong_ci([0, 1], [0.1, 0.2], confidence=1.5)


def test_one_million_scores_timing(capsys):
    """Measured and reported, not asserted (tests never assert wall-clock times)."""
    rng = np.random.default_rng(42)
    n = 1_000_000
    y = rng.integers(0, 2, size=n)
    s1 = np.round(rng.normal(size=n) + y, 3)
    s2 = np.round(0.5 * s1 + rng.normal(size=n), 3)
    t0 = time.perf_counter()
    d = delong_ci(y, s1)
    t1 = time.perf_counter()
    t = delong_test(y, s1, s2)
    t2 = time.perf_counter()
    assert 0.7 < d["auc"] < 0.8 and d["ci_high"] - d["ci_low"] < 0.01
    assert t["auc1"] == pytest.approx(d["auc"], abs=1e-12)
    with capsys.disabled():
        print(f"\n[DeLong timing] n={n:,}: delong_ci {t1 - t0:.3f} s, paired delong_test {t2 - t1:.3f} s")
