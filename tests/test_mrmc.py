"""MRMC (Obuchowski-Rockette, Hillis ddf) and agreement statistics against published worked examples.

Sources of the numbers:
- Data: Van Dyke CH, White RD, Obuchowski NA, et al. Cine MRI in the diagnosis of thoracic aortic dissection.
  RSNA 1993 (5 readers, 2 modalities, 114 cases: 69 normal, 45 abnormal, 5-point ratings), as distributed with
  RJafroc (dpc10ster/RJafroc, vignettes/VanDyke.lrc; dataset02) and MRMCaov (VanDyke).
- Expected results: MRMCaov README, ``summary(mrmc(empirical_auc(truth, rating), treatment, reader, case,
  data = VanDyke))`` (Smith BJ, Hillis SL, SPIE Medical Imaging 2020; jackknife covariances):
  F = 4.456319 on 1 and 15.25967 df, p = 0.05166569; Cov1..Cov3 and MS values below; the same F, ddf and p
  are given by RJafroc's DBM-Hillis analysis (Chakraborty's book, chapter on OR analysis of the Van Dyke data).
- Fixed-readers (readers fixed, cases random) analysis of the same data: OR-DBM MRMC reports X2 = 5.476 on 1 df,
  p = 0.0193; the fixed-cases F = MS(T) / MS(T:R) follows from MRMCaov's published MS values above
  (0.004796171 / 0.0005510306 = 8.704 on 1 and 4 df).
- Fleiss' kappa: the worked example of Fleiss (1971) as tabulated on Wikipedia ("Fleiss' kappa": 10 subjects,
  14 raters, 5 categories; P_bar = 0.378, P_e = 0.213, kappa = 0.210).
"""

import math

import numpy as np
import pytest

from core.errors import InputError
from core.reader_study.agreement import cohen_pairs, fleiss_from_labels, fleiss_kappa
from core.reader_study.mrmc import jackknife_covariance, or_hillis, readers_vs_standalone

# Ratings of cases 0..113 (69 normal, then 45 abnormal), one string per reader and modality (treatment).
VAN_DYKE = {
    (0, 0): "122151111111411111111131311214111113121211233131133111111221111332111555545554555434245555555154454553555115554451",
    (0, 1): "333222223213122222211111421312214323123122233111333113412421241442111535555554555544335555555355355554455535555551",
    (1, 0): "232222222322522232222222422223222222222222222222222222222432232222222535555542555442225555555243354552425225555352",
    (1, 1): "322222223222222122221222322222212212222231223222222222322322222222122535555552555344245455545252355532425525555552",
    (2, 0): "222235112242422232221232411322112224121412112222223211211221151421212545555555555542355555555252255552555225555552",
    (2, 1): "242222322211132222121121411512112122212221132111233113221232341242121525555555555354145555555253355543555534555551",
    (3, 0): "111111311111111111112111211112111111111111111111331111111111111311111555555555555555155555555554544553555125555555",
    (3, 1): "221111312111122111211111321212111122112111112121212211111212111323211545555554555455555555555455445555555535555555",
    (4, 0): "351211112221211122113221111211211231221113332111211111111341231212113525255551545452235555554144322151515115553552",
    (4, 1): "223122221222111222122212322321212222112121132122332122221222231233111525455555455343335555555251332532545533555553",
}


def _van_dyke():
    scores = np.array([[[int(c) for c in VAN_DYKE[(r, t)]] for r in range(5)] for t in range(2)], dtype=float)
    truth = np.r_[np.zeros(69, dtype=int), np.ones(45, dtype=int)]
    return truth, scores


def test_van_dyke_matches_mrmcaov_published_output():
    truth, scores = _van_dyke()
    res = or_hillis(truth, scores, tests=["1", "2"])
    np.testing.assert_allclose(res["auc"][0], [0.9196457, 0.8587762, 0.9038647, 0.9731079, 0.8297907], atol=1e-7)
    np.testing.assert_allclose(res["auc"][1], [0.9478261, 0.9053140, 0.9217391, 0.9993559, 0.9299517], atol=1e-7)
    c = res["components"]
    assert c["var_error"] == pytest.approx(0.0008022883, rel=1e-6)
    assert c["cov1"] == pytest.approx(0.0003466137, rel=1e-6)
    assert c["cov2"] == pytest.approx(0.0003440748, rel=1e-6)
    assert c["cov3"] == pytest.approx(0.0002390284, rel=1e-6)
    assert c["ms_t"] == pytest.approx(0.004796171, rel=1e-6)
    assert c["ms_tr"] == pytest.approx(0.0005510306, rel=1e-6)
    assert res["f"] == pytest.approx(4.456319, rel=1e-6)
    assert res["df1"] == 1
    assert res["df2"] == pytest.approx(15.25967, rel=1e-6)
    assert res["p_value"] == pytest.approx(0.05166569, rel=1e-6)
    diff = res["differences"][0]
    assert diff["estimate"] == pytest.approx(-0.04380032, rel=1e-6)
    assert diff["se"] == pytest.approx(0.02074862, rel=1e-6)
    assert diff["ci_low"] == pytest.approx(-0.0879594986, rel=1e-6)
    assert diff["ci_high"] == pytest.approx(0.0003588544, rel=1e-5)
    assert diff["p_value"] == pytest.approx(0.05166569, rel=1e-6)
    one, two = res["by_test"]
    assert (one["estimate"], one["se"], one["df"]) == pytest.approx((0.8970370, 0.03317360, 12.74465), rel=1e-6)
    assert (one["ci_low"], one["ci_high"]) == pytest.approx((0.8252236, 0.9688505), rel=1e-6)
    assert (two["ci_low"], two["ci_high"], two["df"]) == pytest.approx((0.8941378, 0.9875369, 12.71019), rel=1e-6)


def test_van_dyke_fixed_readers_and_fixed_cases():
    truth, scores = _van_dyke()
    res = or_hillis(truth, scores, tests=["1", "2"])
    fr = res["fixed_readers"]
    assert fr["chi2"] == pytest.approx(5.476, abs=5e-4) and fr["df"] == 1
    assert fr["p_value"] == pytest.approx(0.0193, abs=5e-5)
    c = res["components"]
    den = c["var_error"] - c["cov1"] + 4 * (c["cov2"] - c["cov3"])
    diff = fr["differences"][0]
    assert diff["se"] == pytest.approx(math.sqrt(2 / 5 * den)) and diff["p_value"] == pytest.approx(fr["p_value"])
    assert diff["ci_low"] < diff["estimate"] < diff["ci_high"] < 0          # significant with readers fixed
    fc = res["fixed_cases"]
    assert fc["f"] == pytest.approx(0.004796171 / 0.0005510306, rel=1e-6) and (fc["df1"], fc["df2"]) == (1, 4)
    assert fc["p_value"] == pytest.approx(float(__import__("scipy").stats.f.sf(fc["f"], 1, 4)))
    one = fc["by_test"][0]
    aucs = np.array(res["auc"][0])
    assert one["se"] == pytest.approx(np.std(aucs, ddof=1) / math.sqrt(5)) and one["df"] == 4
    # random readers: widest CI; fixed readers: narrowest (no reader variance)
    rr = res["differences"][0]
    assert (fr["differences"][0]["ci_high"] - fr["differences"][0]["ci_low"]) < (rr["ci_high"] - rr["ci_low"])


def test_fast_jackknife_equals_leave_one_out_recomputation(rng):
    from core.reader_study.mrmc import _auc_matrix

    truth = (rng.random(150) < 0.4).astype(int)
    scores = rng.integers(1, 6, size=(4, 150)).astype(float) + truth
    aucs, cov = jackknife_covariance(truth, scores)
    keep = np.ones(150, dtype=bool)
    loo = []
    for k in range(150):
        keep[k] = False
        loo.append(_auc_matrix(truth[keep], scores[:, keep]))
        keep[k] = True
    loo = np.array(loo)
    np.testing.assert_allclose(cov, 149 / 150 * (loo - loo.mean(0)).T @ (loo - loo.mean(0)), atol=1e-15)
    np.testing.assert_allclose(aucs, _auc_matrix(truth, scores), atol=1e-15)


@pytest.mark.parametrize("fom, kw", [("sensitivity", {"threshold": 4}), ("specificity", {"threshold": 3}),
                                     ("partial_auc", {"limits": (0.8, 1.0)})])
def test_other_figures_of_merit(fom, kw):
    from core.reader_study.mrmc import jackknife_fom_covariance

    truth, scores = _van_dyke()
    res = or_hillis(truth, scores, fom=fom, **kw)
    assert res["fom"] == fom
    if fom == "sensitivity":       # reader 1, modality 1: ratings >= 4 among the 45 abnormal cases
        assert res["auc"][0][0] == pytest.approx(np.mean(scores[0, 0][truth == 1] >= 4))
    if fom == "specificity":
        assert res["auc"][0][0] == pytest.approx(np.mean(scores[0, 0][truth == 0] < 3))
    if fom == "partial_auc":
        from core.evaluation.coords import partial_auc_proc

        assert res["auc"][1][2] == pytest.approx(partial_auc_proc(truth, scores[1, 2], limits=(0.8, 1.0)))
    assert np.isfinite(res["fixed_readers"]["chi2"]) and 0 <= res["p_value"] <= 1
    # the generic jackknife reproduces the fast AUC jackknife
    flat = scores.reshape(10, -1)
    np.testing.assert_allclose(jackknife_fom_covariance(truth, flat, "auc")[1], jackknife_covariance(truth, flat)[1],
                               atol=1e-15)
    with pytest.raises(InputError, match="jackknife"):
        or_hillis(truth, scores, fom=fom, covariance="delong", **kw)


def test_jackknife_covariance_against_slow_loop(rng):
    truth = np.r_[np.zeros(7, dtype=int), np.ones(5, dtype=int)]
    scores = rng.integers(1, 6, size=(3, 12)).astype(float)
    aucs, cov = jackknife_covariance(truth, scores)

    def auc(t, s):
        pos, neg = s[t == 1], s[t == 0]
        return sum((p > q) + 0.5 * (p == q) for p in pos for q in neg) / (len(pos) * len(neg))

    assert aucs == pytest.approx([auc(truth, s) for s in scores])
    loo = np.array([[auc(np.delete(truth, k), np.delete(s, k)) for s in scores] for k in range(12)])
    expected = (12 - 1) / 12 * (loo - loo.mean(0)).T @ (loo - loo.mean(0))
    np.testing.assert_allclose(cov, expected, atol=1e-12)


def test_delong_covariance_option_gives_a_similar_test():
    truth, scores = _van_dyke()
    res = or_hillis(truth, scores, covariance="delong")
    assert res["f"] == pytest.approx(4.456, abs=0.1) and 0.04 < res["p_value"] < 0.07


def test_readers_vs_standalone_ai_is_a_two_test_analysis():
    truth, scores = _van_dyke()
    ai = scores[1, 3]  # reader 4 of modality 2 plays the algorithm
    res = readers_vs_standalone(truth, scores[0], ai)
    assert res["tests"] == ["readers", "AI"]
    assert res["auc_by_test"][1] == pytest.approx(0.9993559, abs=1e-7)
    assert res["auc_by_test"][0] == pytest.approx(0.8970370, abs=1e-7)
    assert res["differences"][0]["estimate"] < 0 and 0 <= res["p_value"] <= 1


@pytest.mark.parametrize("shape", [(1, 5, 114), (2, 1, 114)])
def test_mrmc_needs_two_tests_and_two_readers(shape):
    truth, _ = _van_dyke()
    with pytest.raises(InputError, match="at least 2 tests and 2 readers"):
        or_hillis(truth, np.zeros(shape))


def test_mrmc_refuses_missing_scores():
    truth, scores = _van_dyke()
    scores[0, 0, 3] = np.nan
    with pytest.raises(InputError, match="missing"):
        or_hillis(truth, scores)


def test_fleiss_kappa_wikipedia_worked_example():
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert round(fleiss_kappa(table), 3) == 0.210
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-5)


def test_fleiss_from_labels_and_hand_example():
    # 3 subjects, 2 raters: agree, agree, disagree -> P_bar = 2/3, p = (1/2, 1/2), P_e = 1/2, kappa = 1/3.
    kappa = fleiss_from_labels({"a": ["x", "y", "x"], "b": ["x", "y", "y"]}, categories=["x", "y"])
    assert kappa == pytest.approx(1 / 3)
    with pytest.raises(InputError, match="same number"):
        fleiss_kappa([[2, 0], [1, 0]])


def test_fleiss_undefined_when_one_category_only():
    with pytest.warns(RuntimeWarning):
        assert math.isnan(fleiss_kappa([[3, 0], [3, 0]]))


def test_cohen_pairs_hand_computed():
    # 2x2 table: both yes 20, a yes/b no 5, a no/b yes 10, both no 15 (n = 50):
    # p_o = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = 0.4 (Wikipedia "Cohen's kappa" example).
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    (pair,) = cohen_pairs({"a": a, "b": b}, categories=["yes", "no"])
    assert pair["kappa"] == pytest.approx(0.4)
    assert pair["agreement"] == pytest.approx(0.7)
