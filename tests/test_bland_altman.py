"""Bland-Altman agreement against numbers worked out by hand (Bland & Altman 1999, section 2.2)."""

import math
import warnings

import numpy as np
import pytest

from core.errors import InputError
from core.evaluation.bland_altman import bland_altman
from core.evaluation._validation import UndefinedMetricWarning

# d = a - b = [-0.5, 0.5, -0.5, 1.0, -0.5]: mean 0, sum of squares 2.0, s = sqrt(2/4) = 0.707107.
A = [1, 2, 3, 4, 5]
B = [1.5, 1.5, 3.5, 3, 5.5]
Z = 1.959964
T4 = 2.776445           # t quantile, 4 degrees of freedom, 0.975


def test_hand_computed_case():
    r = bland_altman(A, B)
    s = math.sqrt(0.5)
    assert r.n == 5
    assert r.mean_diff == pytest.approx(0.0, abs=1e-12)
    assert r.sd_diff == pytest.approx(s)
    assert r.loa == pytest.approx((-Z * s, Z * s), rel=1e-6)               # +-1.385904
    assert r.loa[1] == pytest.approx(1.385904, abs=1e-5)
    # SE of a limit: s * sqrt(1/5 + 1.96^2 / 8) = 0.707107 * 0.824743 = 0.583180
    se = s * math.sqrt(1 / 5 + Z ** 2 / 8)
    assert se == pytest.approx(0.583180, abs=1e-5)
    assert r.loa_upper_ci == pytest.approx((Z * s - T4 * se, Z * s + T4 * se), rel=1e-6)
    assert r.loa_upper_ci[1] == pytest.approx(3.005072, abs=1e-4)           # 1.385904 + 2.776445 * 0.583180
    assert r.loa_lower_ci[0] == pytest.approx(-3.005072, abs=1e-4)
    # bias CI: 0 +- 2.776445 * 0.707107 / sqrt(5) = +-0.877981
    assert r.mean_diff_ci == pytest.approx((-0.877981, 0.877981), abs=1e-5)
    assert r.mean_abs_diff == pytest.approx(3.0 / 5)
    assert np.allclose(r.diffs, [-0.5, 0.5, -0.5, 1.0, -0.5])
    assert np.allclose(r.means, [1.25, 1.75, 3.25, 3.5, 5.25])


def test_bias_shifts_limits_and_sign_is_method_minus_reference():
    r = bland_altman(np.array(A) + 2.0, A)          # every difference is +2, no spread
    assert r.mean_diff == pytest.approx(2.0) and r.sd_diff == pytest.approx(0.0)
    assert r.loa == pytest.approx((2.0, 2.0))
    r2 = bland_altman([10, 12, 11, 15], [9, 12, 13, 12])    # d = [1, 0, -2, 3]: mean 0.5, s = sqrt(13/3)
    assert r2.mean_diff == pytest.approx(0.5)
    assert r2.sd_diff == pytest.approx(math.sqrt(13 / 3))
    assert r2.loa == pytest.approx((0.5 - Z * math.sqrt(13 / 3), 0.5 + Z * math.sqrt(13 / 3)), rel=1e-6)


def test_confidence_changes_z():
    r = bland_altman(A, B, confidence=0.90)
    assert r.loa[1] == pytest.approx(1.644854 * math.sqrt(0.5), rel=1e-6)


def test_dict_is_json_ready():
    d = bland_altman(A, B).to_dict()
    assert set(d) >= {"n", "mean", "sd", "loa", "mean_ci", "loa_lower_ci", "loa_upper_ci"}
    assert isinstance(d["loa"], list) and len(d["loa"]) == 2


def test_one_pair_is_undefined_not_a_crash():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = bland_altman([3.0], [2.0])
    assert any(issubclass(x.category, UndefinedMetricWarning) for x in w)
    assert r.mean_diff == 1.0 and math.isnan(r.sd_diff) and all(math.isnan(v) for v in r.loa)


@pytest.mark.parametrize("a,b", [([1, 2], [1, 2, 3]), ([1, float("nan")], [1, 2]), (["x", 1], [1, 2]), ([], [])])
def test_bad_input(a, b):
    with pytest.raises(InputError):
        bland_altman(a, b)
