"""pROC parity of ROC coordinates, direction, partial AUC and their bootstrap CIs.

References: the expected values are pROC's own test expectations on the aSAH data (xrobin/pROC,
tests/testthat/test-coords.R "coords with specificity/sensitivity works", test-auc.R partial AUCs,
print_output/r.ndka.partial1 etc.); bootstrap CIs, whose numbers depend on the RNG, are checked against a slow
replicate-by-replicate reference drawing the same indices.
"""

import math
import warnings

import numpy as np
import pytest
from eval_reference_data import NDKA, OUTCOME, S100B, WFNS

from core.errors import InputError
from core.evaluation._validation import UndefinedMetricWarning
from core.evaluation.coords import coords, partial_auc_proc, resolve_direction
from core.evaluation.coords_ci import ci_auc_bootstrap, ci_coords, ci_se, ci_sp
from core.evaluation.roc import sensitivity_at_specificity, specificity_at_sensitivity

GRID = np.round(np.arange(11) / 10, 10)


def test_coords_at_specificities_match_proc():
    r = coords(OUTCOME, S100B, GRID, input="specificity")
    expected = [1, 0.975609756097561, 0.921951219512195, 0.879674796747967, 0.823693379790941, 0.774390243902439,
                0.675609756097561, 0.655284552845528, 0.634146341463415, 0.390243902439024, 0.292682926829268]
    np.testing.assert_allclose(r["sensitivity"], expected, atol=1e-14)
    assert r["threshold"][0] == -np.inf and r["threshold"][-1] == 0.51
    assert all(math.isnan(v) for v in r["threshold"][1:-1])          # interpolated: no single cut-off


def test_coords_at_sensitivities_match_proc():
    r = coords(OUTCOME, S100B, GRID, input="sensitivity")
    expected = [1, 1, 1, 0.972222222222222, 0.888888888888889, 0.833333333333333, 0.805555555555556, 0.56875,
                0.447222222222222, 0.230555555555556, 0]
    np.testing.assert_allclose(r["specificity"], expected, atol=1e-14)
    assert r["threshold"][0] == np.inf and r["threshold"][-1] == -np.inf


def test_coords_at_threshold_uses_score_at_or_above():
    r = coords(OUTCOME, S100B, [0.51, 0.205], input="threshold")
    cases, controls = S100B[OUTCOME == 1], S100B[OUTCOME == 0]
    for thr, se, sp in zip([0.51, 0.205], r["sensitivity"], r["specificity"]):
        assert se == pytest.approx(np.mean(cases >= thr)) and sp == pytest.approx(np.mean(controls < thr))


def test_fixed_specificity_interpolates_like_proc_and_empirical_stays_achievable():
    got = sensitivity_at_specificity(OUTCOME, S100B, specificity=0.9)
    assert got["sensitivity"] == pytest.approx(0.390243902439024, abs=1e-14) and math.isnan(got["threshold"])
    emp = sensitivity_at_specificity(OUTCOME, S100B, specificity=0.9, method="empirical")
    controls, cases = S100B[OUTCOME == 0], S100B[OUTCOME == 1]
    assert np.isfinite(emp["threshold"])
    assert np.mean(controls <= emp["threshold"]) == pytest.approx(emp["specificity"]) and emp["specificity"] >= 0.9
    assert np.mean(cases > emp["threshold"]) == pytest.approx(emp["sensitivity"])
    assert emp["sensitivity"] <= got["sensitivity"]
    sp = specificity_at_sensitivity(OUTCOME, S100B, sensitivity=0.7)
    assert sp["specificity"] == pytest.approx(0.56875)


@pytest.mark.parametrize("score, limits, focus, correct, expected", [
    (WFNS, (1, .9), "specificity", False, 0.0334417344173442),
    (WFNS, (.9, .8), "specificity", False, 0.0598373983739837),
    (WFNS, (.5, 0), "specificity", False, 0.488134475939354),
    (NDKA, (1, .9), "specificity", False, 0.0107046070460705),
    (NDKA, (.9, .99), "specificity", False, 0.01046),                  # print_output/r.ndka.partial1
    (WFNS, (1, .9), "sensitivity", False, 0.0400999322493225),
    (NDKA, (.9, .8), "sensitivity", False, 0.0242547425474255),
    (S100B, (.99, .9), "sensitivity", False, 0.01376),                 # print_output/r.s100b.partial2
    (WFNS, (1, .9), "specificity", True, 0.649693339038653),
    (WFNS, (.9, .8), "specificity", True, 0.763749402199904),
    (NDKA, (1, .9), "specificity", True, 0.530024247610897),
    (WFNS, (1, 0), "specificity", False, 0.823678861788618),
])
def test_partial_auc_matches_proc(score, limits, focus, correct, expected):
    got = partial_auc_proc(OUTCOME, score, limits=limits, focus=focus, correct=correct)
    assert got == pytest.approx(expected, abs=5e-6 if expected in (0.01046, 0.01376) else 1e-13)


def test_direction_auto_follows_medians_and_negation_is_symmetric():
    assert resolve_direction(OUTCOME, S100B) == "<" and resolve_direction(OUTCOME, -S100B) == ">"
    a = coords(OUTCOME, S100B, [0.3, 0.9])
    b = coords(OUTCOME, -S100B, [0.3, 0.9])
    assert b["direction"] == ">" and a["sensitivity"] == pytest.approx(b["sensitivity"])
    assert coords(OUTCOME, -S100B, [0.3], direction="<")["sensitivity"][0] < a["sensitivity"][0]
    assert partial_auc_proc(OUTCOME, -WFNS, limits=(1, .9)) == pytest.approx(0.0334417344173442)
    t = coords(OUTCOME, -S100B, [-0.51], input="threshold")     # ">": a case is positive at score <= -0.51
    assert t["sensitivity"][0] == pytest.approx(np.mean(S100B[OUTCOME == 1] >= 0.51))


def _slow_ci(t, s, x, n_boot, seed, stratified, conf):
    """Replicate by replicate with the same draws: sort, build pROC's curve with loops, interpolate."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(t == 1), np.flatnonzero(t == 0)
    vals = []
    for _ in range(n_boot):
        if stratified:
            idx = np.concatenate([rng.choice(neg, size=neg.size), rng.choice(pos, size=pos.size)])
        else:
            idx = rng.integers(0, t.size, size=t.size)
        tb, sb = t[idx], s[idx]
        if tb.min() == tb.max():
            continue
        u = sorted(set(sb.tolist()))
        thr = [-math.inf] + [(a + b) / 2 for a, b in zip(u[:-1], u[1:])] + [math.inf]
        se = [np.mean(sb[tb == 1] > c) for c in thr]
        sp = [np.mean(sb[tb == 0] <= c) for c in thr]
        row = []
        for target in x:
            exact = [k for k in range(len(sp)) if sp[k] == target]
            if exact:
                row.append(se[exact[0]])
                continue
            k = next(k for k in range(len(sp)) if sp[k] > target)
            row.append(se[k] + (target - sp[k]) / (sp[k - 1] - sp[k]) * (se[k - 1] - se[k]))
        vals.append(row)
    return np.quantile(np.array(vals), [(1 - conf) / 2, 0.5, (1 + conf) / 2], axis=0).T


@pytest.mark.parametrize("stratified", [True, False])
def test_ci_se_against_slow_reference(stratified):
    x = [0.5, 0.8, 0.9]
    r = ci_se(OUTCOME, NDKA, x, n_boot=200, seed=3, stratified=stratified, confidence=0.9)
    np.testing.assert_allclose(r["sensitivity"], _slow_ci(OUTCOME, NDKA, x, 200, 3, stratified, 0.9), atol=1e-12)
    assert r["estimate"]["sensitivity"] == pytest.approx(coords(OUTCOME, NDKA, x)["sensitivity"])
    assert r["n_missing_class"] == 0 and r["stratified"] is stratified
    for low, mid, high in r["sensitivity"]:
        assert low <= mid <= high


def test_ci_sp_and_ci_coords_shapes_and_order():
    r = ci_sp(OUTCOME, S100B, [0.5, 0.9], n_boot=100, seed=1)
    assert len(r["specificity"]) == 2 and r["input"] == "sensitivity"
    assert r["specificity"][0][1] > r["specificity"][1][1]          # higher sensitivity, lower specificity
    t = ci_coords(OUTCOME, S100B, 0.205, input="threshold", n_boot=100, seed=1)
    assert t["estimate"]["specificity"][0] == pytest.approx(0.8055555555555556)


def test_ci_auc_bootstrap_stratified_against_slow_reference_and_delong():
    from core.evaluation.delong import auc_midrank, delong_ci

    r = ci_auc_bootstrap(OUTCOME, NDKA, n_boot=300, seed=5)
    rng = np.random.default_rng(5)
    pos, neg = np.flatnonzero(OUTCOME == 1), np.flatnonzero(OUTCOME == 0)
    vals = []
    for _ in range(300):
        idx = np.concatenate([rng.choice(neg, size=neg.size), rng.choice(pos, size=pos.size)])
        vals.append(auc_midrank(OUTCOME[idx], NDKA[idx]))
    lo, mid, hi = np.quantile(vals, [0.025, 0.5, 0.975])
    assert (r["ci_low"], r["median"], r["ci_high"]) == pytest.approx((lo, mid, hi), abs=1e-12)
    assert r["estimate"] == pytest.approx(0.611957994579946, abs=1e-14)
    d = delong_ci(OUTCOME, NDKA)        # pROC test-ci.auc.R: DeLong 0.501244999271703-0.722670989888189
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((0.501244999271703, 0.722670989888189), abs=1e-13)
    assert abs(r["ci_low"] - d["ci_low"]) < 0.03 and abs(r["ci_high"] - d["ci_high"]) < 0.03


def test_partial_auc_ci_brackets_estimate():
    r = ci_auc_bootstrap(OUTCOME, WFNS, n_boot=200, seed=2, partial=(1, 0.9), correct=True)
    assert r["estimate"] == pytest.approx(0.649693339038653)
    assert r["ci_low"] < r["estimate"] < r["ci_high"] and r["partial"] == [0.9, 1.0]


def test_one_class_and_bad_input():
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(coords([1, 1, 1], [0.1, 0.2, 0.3], 0.5)["sensitivity"][0])
    with pytest.raises(InputError, match="specificity = 1.5"):
        coords(OUTCOME, S100B, 1.5)
    with pytest.raises(InputError, match="direction"):
        coords(OUTCOME, S100B, 0.5, direction="up")
    with pytest.raises(InputError, match="limits"):
        partial_auc_proc(OUTCOME, S100B, limits=(0.9, 0.9))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ci_se(OUTCOME, S100B, [0.9], n_boot=20)                       # no spurious warning on good data


@pytest.mark.parametrize("stratified", [True, False])
def test_batched_curves_equal_one_by_one_curves(stratified):
    """The vectorised replicate curves (core.evaluation._curves_batch) against roc_points / coords per replicate,
    for every read-out the CIs use: se at sp, sp at se (exact hits and interpolation), partial areas."""
    from core.evaluation import _curves_batch as CB
    from core.evaluation.coords import _at, pauc_from_points, roc_points
    from core.evaluation.coords_ci import _draws

    t, s = OUTCOME, WFNS                       # five distinct values: many ties and exact hits
    idx = _draws(t, n_boot=60, stratified=stratified, seed=11)
    se, sp, valid, prev, lacking = CB.curves(t, s, idx)
    for b in range(60):
        tb, sb = t[idx[b]], s[idx[b]]
        if tb.min() == tb.max():
            assert lacking[b]
            continue
        ref_se, ref_sp, thr = roc_points(tb, sb)
        v = valid[b]
        np.testing.assert_allclose(se[b][v], ref_se, atol=1e-15)
        np.testing.assert_allclose(sp[b][v], ref_sp, atol=1e-15)
        one = lambda a: a[b:b + 1]  # noqa: E731
        for x in (0.0, 0.25, 0.5, float(ref_sp[2]), 0.9, 1.0):
            want = _at(ref_se, ref_sp, thr, x, "specificity")[0]
            assert CB.se_at_sp(one(se), one(sp), one(valid), one(prev), x)[0] == pytest.approx(want, abs=1e-12)
            want = _at(ref_se, ref_sp, thr, x, "sensitivity")[1]
            assert CB.sp_at_se(one(se), one(sp), one(valid), one(prev), x)[0] == pytest.approx(want, abs=1e-12)
        for lo, hi, focus, correct in ((0.9, 1.0, "specificity", False), (0.8, 0.9, "sensitivity", False),
                                       (0.0, 1.0, "specificity", False), (0.9, 1.0, "specificity", True)):
            want = pauc_from_points(ref_se, ref_sp, lo, hi, focus=focus, correct=correct)
            got = CB.partial_area(one(se), one(sp), one(valid), one(prev), lo, hi, focus=focus, correct=correct)[0]
            assert got == pytest.approx(want, abs=1e-12)
