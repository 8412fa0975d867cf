"""Multi-reader multi-case (MRMC) analysis of AUC: Obuchowski-Rockette with Hillis degrees of freedom.

Why by hand: no Python library implements it (the references are R's MRMCaov and RJafroc and the iMRMC Java
program). The model (Obuchowski & Rockette 1995; Hillis 2007, Stat Med 26:596-619; Hillis 2008):
reader-by-test AUCs ``theta[i, j]`` (test i, reader j) with the case-sampling covariance matrix of all
t*r AUCs estimated either by the jackknife over cases (as MRMCaov and RJafroc default) or by DeLong's
structural components. From that matrix come the error variance and the three covariances
Cov1 (same reader, different tests), Cov2 (same test, different readers), Cov3 (both different); then

    F = MS(T) / (MS(T:R) + r * max(Cov2 - Cov3, 0))
    ddf_H = (MS(T:R) + r * max(Cov2 - Cov3, 0))**2 / (MS(T:R)**2 / ((t - 1)(r - 1)))

and the CI of a test difference uses ``SE = sqrt(2/r * (MS(T:R) + r * max(Cov2 - Cov3, 0)))`` on ddf_H
degrees of freedom. Per-test CIs use only that test's data: ``SE = sqrt((MS(R) + r * max(Cov2_i, 0)) / r)``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

from core.errors import InputError
from core.evaluation.coords import pauc_from_points, roc_points
from core.evaluation.delong import _components, delong_covariance

COVARIANCE_METHODS = ("jackknife", "delong")
FOMS = ("auc", "partial_auc", "sensitivity", "specificity")


def fom_values(truth: np.ndarray, scores: np.ndarray, fom: str, *, threshold: float = 0.5,
               limits=(0.9, 1.0)) -> np.ndarray:
    """Figure of merit of each row of ``scores`` (k, n): the empirical AUC, the partial AUC over a specificity
    range (pROC's, un-standardised), or the sensitivity / specificity of the decision ``score >= threshold``
    (MRMCaov's ``binary_sens`` / ``binary_spec`` for a reader's yes/no calls)."""
    if fom == "auc":
        return _auc_matrix(truth, scores)
    if fom in ("sensitivity", "specificity"):
        calls = scores >= threshold
        return calls[:, truth == 1].mean(axis=1) if fom == "sensitivity" else (~calls[:, truth == 0]).mean(axis=1)

    lo, hi = sorted(float(v) for v in limits)
    out = np.empty(scores.shape[0])
    for i, row in enumerate(scores):
        se, sp, _ = roc_points(truth, row)
        out[i] = pauc_from_points(se, sp, lo, hi)
    return out


def jackknife_fom_covariance(truth, scores, fom: str, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-case-out jackknife covariance of any figure of merit (one FOM per left-out case and row);
    for ``fom="auc"`` :func:`jackknife_covariance` gives the same matrix without the loop."""
    t = np.asarray(truth, dtype=int)
    s = np.asarray(scores, dtype=float)
    n = t.size
    values = fom_values(t, s, fom, **kw)
    keep = np.ones(n, dtype=bool)
    jk = np.empty((n, s.shape[0]))
    for c in range(n):
        keep[c] = False
        jk[c] = fom_values(t[keep], s[:, keep], fom, **kw)
        keep[c] = True
    centred = jk - jk.mean(axis=0)
    return values, (n - 1) / n * centred.T @ centred


def _auc_matrix(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Empirical (Mann-Whitney, ties 1/2) AUC of each row of ``scores`` (k, n) against 0/1 ``truth``."""
    pos, neg = scores[:, truth == 1], scores[:, truth == 0]
    gt = (pos[:, :, None] > neg[:, None, :]).mean(axis=(1, 2))
    eq = (pos[:, :, None] == neg[:, None, :]).mean(axis=(1, 2))
    return gt + 0.5 * eq


def jackknife_covariance(truth, scores) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of the rows of ``scores`` (k, n) and their leave-one-case-out jackknife covariance (k, k).

    Why no loop over cases: the Mann-Whitney AUC is the mean of the DeLong structural components, so leaving
    out positive case i gives (m * AUC - V10_i) / (m - 1) and leaving out negative j gives
    (n * AUC - V01_j) / (n - 1) exactly. The n pseudo-values come from one midrank pass per score row
    (O(k n log n)) instead of n recomputed AUCs (O(k n^3) pairwise): 1000 cases in milliseconds.
    """
    t = np.asarray(truth, dtype=int)
    s = np.asarray(scores, dtype=float)
    n = t.size
    aucs, v10, v01 = _components(t, s)
    m_pos, m_neg = v10.shape[1], v01.shape[1]
    jk = np.empty((n, s.shape[0]))
    is_pos = t == 1
    jk[is_pos] = ((m_pos * aucs[:, None] - v10) / (m_pos - 1)).T
    jk[~is_pos] = ((m_neg * aucs[:, None] - v01) / (m_neg - 1)).T
    centred = jk - jk.mean(axis=0)
    return aucs, (n - 1) / n * centred.T @ centred


def _covariances(cov: np.ndarray, t: int, r: int) -> dict:
    """Error variance and Cov1..Cov3 averaged over the matching (test, reader) pairs."""
    idx = [(i, j) for i in range(t) for j in range(r)]
    groups = {"var": [], "cov1": [], "cov2": [], "cov3": []}
    for a, (i, j) in enumerate(idx):
        for b, (k, m) in enumerate(idx):
            key = ("var" if j == m else "cov2") if i == k else ("cov1" if j == m else "cov3")
            groups[key].append(cov[a, b])
    return {k: float(np.mean(v)) if v else math.nan for k, v in groups.items()}


def or_hillis(truth, scores, *, tests=None, readers=None, covariance: str = "jackknife",
              confidence: float = 0.95, fom: str = "auc", threshold: float = 0.5, limits=(0.9, 1.0)) -> dict:
    """OR analysis of ``scores`` shaped (t tests, r readers, n cases) against 0/1 ``truth`` (n,).

    Returns AUCs per test and reader, the variance components, the global F test (F, df1, df2 = Hillis ddf,
    p), pairwise test differences with CIs, and per-test CIs: the random-readers random-cases analysis
    (generalising to both new readers and new cases). ``fixed_readers`` (conclusions about these readers
    only: chi-square test, normal CIs) and ``fixed_cases`` (these cases only: F = MS(T)/MS(T:R)) hold the two
    other analyses MRMCaov reports ("FRRC" and "RRFC").

    ``fom``: the figure of merit, "auc" (default; the key ``auc`` then holds AUCs), "partial_auc" over the
    specificity range ``limits``, or "sensitivity" / "specificity" of ``score >= threshold`` (MRMCaov's
    ``empirical_auc``, ``binary_sens``, ``binary_spec``); other FOMs use the generic jackknife. The keys keep
    their names (``auc``, ``auc_by_test``) whatever the FOM; ``fom`` says which it is.

    Example (Van Dyke et al. 1993, as analysed in MRMCaov/RJafroc): F = 4.456, ddf = 15.26, p = 0.0517;
    fixed readers X2 = 5.476, p = 0.0193 (OR-DBM MRMC); fixed cases F = 8.704 on 1 and 4 df.
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(truth, dtype=int)
    if s.ndim != 3:
        raise InputError(f"scores must have shape (tests, readers, cases); got {s.shape}")
    t, r, n = s.shape
    if y.shape != (n,) or not set(np.unique(y)) <= {0, 1}:
        raise InputError(f"truth must be {n} values of 0/1")
    if t < 2 or r < 2:
        raise InputError(f"MRMC needs at least 2 tests and 2 readers (got {t} tests, {r} readers)")
    if min(int(y.sum()), int(n - y.sum())) < 2:
        raise InputError("MRMC needs at least two positive and two negative cases")
    if not np.isfinite(s).all():
        raise InputError("scores contain missing values: every reader must read every case in every test")
    if covariance not in COVARIANCE_METHODS:
        raise InputError(f"covariance {covariance!r}: choose one of {', '.join(COVARIANCE_METHODS)}")
    flat = s.reshape(t * r, n)
    if fom not in FOMS:
        raise InputError(f"fom {fom!r}: choose one of {', '.join(FOMS)}")
    if fom != "auc":
        if covariance != "jackknife":
            raise InputError(f"fom {fom!r} needs covariance='jackknife' (DeLong covers the AUC only)")
        aucs, cov = jackknife_fom_covariance(y, flat, fom, threshold=threshold, limits=limits)
    elif covariance == "jackknife":
        aucs, cov = jackknife_covariance(y, flat)
    else:
        aucs, cov = delong_covariance(y, *flat)
    theta = aucs.reshape(t, r)
    comp = _covariances(cov, t, r)
    ti, rj, grand = theta.mean(axis=1), theta.mean(axis=0), theta.mean()
    ms_t = r * float(((ti - grand) ** 2).sum()) / (t - 1)
    ms_r = t * float(((rj - grand) ** 2).sum()) / (r - 1)
    ms_tr = float(((theta - ti[:, None] - rj[None, :] + grand) ** 2).sum()) / ((t - 1) * (r - 1))
    den = ms_tr + r * max(comp["cov2"] - comp["cov3"], 0.0)
    if den <= 0 or ms_tr <= 0:
        warnings.warn("MRMC: zero test-by-reader variation; the F test is undefined", RuntimeWarning, stacklevel=2)
        f_stat = ddf = p = math.nan
    else:
        f_stat = ms_t / den
        ddf = den ** 2 / (ms_tr ** 2 / ((t - 1) * (r - 1)))
        p = float(stats.f.sf(f_stat, t - 1, ddf))
    tests = list(tests) if tests is not None else [f"test{i + 1}" for i in range(t)]
    readers = list(readers) if readers is not None else [f"reader{j + 1}" for j in range(r)]
    q = 0.5 + confidence / 2
    pairs = []
    for a in range(t):
        for b in range(a + 1, t):
            diff = float(ti[a] - ti[b])
            se = math.sqrt(2.0 / r * den) if den > 0 else math.nan
            tq = float(stats.t.ppf(q, ddf)) if math.isfinite(ddf) else math.nan
            pairs.append({"comparison": f"{tests[a]} - {tests[b]}", "estimate": diff, "se": se, "df": ddf,
                          "ci_low": diff - tq * se, "ci_high": diff + tq * se,
                          "t": diff / se if se and math.isfinite(se) else math.nan,
                          "p_value": float(2 * stats.t.sf(abs(diff / se), ddf)) if se and math.isfinite(ddf) else math.nan})
    single = [_single_test(theta[i], cov, i, r, q, tests[i]) for i in range(t)]
    fixed_readers = _fixed_readers(theta, ti, cov, comp, ms_t, t, r, q, tests)
    fixed_cases = _fixed_cases(theta, ti, ms_t, ms_tr, t, r, q, tests)
    return {
        "fixed_readers": fixed_readers, "fixed_cases": fixed_cases,
        "fom": fom, "tests": tests, "readers": readers, "auc": theta.tolist(), "auc_by_test": ti.tolist(), "n_cases": n,
        "n_pos": int(y.sum()), "covariance_method": covariance,
        "components": {"var_error": comp["var"], "cov1": comp["cov1"], "cov2": comp["cov2"], "cov3": comp["cov3"],
                       "ms_t": ms_t, "ms_r": ms_r, "ms_tr": ms_tr},
        "f": f_stat, "df1": t - 1, "df2": ddf, "p_value": p, "differences": pairs, "by_test": single,
    }


def _fixed_readers(theta, ti, cov, comp, ms_t, t, r, q, tests) -> dict:
    """Readers fixed, cases random (Hillis 2007; MRMCaov "FRRC"): chi-square on t - 1 df,
    X2 = (t - 1) MS(T) / (Var - Cov1 + (r - 1)(Cov2 - Cov3)); normal CIs."""
    den = comp["var"] - comp["cov1"] + (r - 1) * (comp["cov2"] - comp["cov3"])
    zq = float(stats.norm.ppf(q))
    if den > 0:
        chi2 = (t - 1) * ms_t / den
        p = float(stats.chi2.sf(chi2, t - 1))
    else:
        chi2 = p = math.nan
    pairs = []
    for a in range(t):
        for b in range(a + 1, t):
            diff = float(ti[a] - ti[b])
            se = math.sqrt(2.0 / r * den) if den > 0 else math.nan
            z = diff / se if se and math.isfinite(se) else math.nan
            pairs.append({"comparison": f"{tests[a]} - {tests[b]}", "estimate": diff, "se": se,
                          "ci_low": diff - zq * se, "ci_high": diff + zq * se, "z": z,
                          "p_value": float(2 * stats.norm.sf(abs(z))) if math.isfinite(z) else math.nan})
    single = []
    for i in range(t):
        block = cov[i * r:(i + 1) * r, i * r:(i + 1) * r]
        var_i = float(np.mean(np.diag(block)))
        off = block[~np.eye(r, dtype=bool)]
        cov2_i = float(off.mean()) if off.size else 0.0
        se = math.sqrt(max(var_i + (r - 1) * cov2_i, 0.0) / r)
        mean = float(ti[i])
        single.append({"test": tests[i], "estimate": mean, "se": se, "ci_low": mean - zq * se,
                       "ci_high": mean + zq * se})
    return {"chi2": chi2, "df": t - 1, "p_value": p, "differences": pairs, "by_test": single}


def _fixed_cases(theta, ti, ms_t, ms_tr, t, r, q, tests) -> dict:
    """Readers random, cases fixed (MRMCaov "RRFC"): F = MS(T) / MS(T:R) on t - 1 and (t - 1)(r - 1) df;
    t-based CIs with per-test SE sqrt(MS(R)_i / r) on r - 1 df."""
    df2 = (t - 1) * (r - 1)
    if ms_tr > 0:
        f = ms_t / ms_tr
        p = float(stats.f.sf(f, t - 1, df2))
    else:
        f = p = math.nan
    tq = float(stats.t.ppf(q, df2))
    pairs = []
    for a in range(t):
        for b in range(a + 1, t):
            diff = float(ti[a] - ti[b])
            se = math.sqrt(2.0 * ms_tr / r) if ms_tr > 0 else math.nan
            tt = diff / se if se and math.isfinite(se) else math.nan
            pairs.append({"comparison": f"{tests[a]} - {tests[b]}", "estimate": diff, "se": se, "df": df2,
                          "ci_low": diff - tq * se, "ci_high": diff + tq * se, "t": tt,
                          "p_value": float(2 * stats.t.sf(abs(tt), df2)) if math.isfinite(tt) else math.nan})
    single = []
    tq1 = float(stats.t.ppf(q, r - 1))
    for i in range(t):
        mean = float(ti[i])
        ms_r_i = float(((theta[i] - mean) ** 2).sum()) / (r - 1)
        se = math.sqrt(ms_r_i / r)
        single.append({"test": tests[i], "estimate": mean, "se": se, "df": r - 1, "ci_low": mean - tq1 * se,
                       "ci_high": mean + tq1 * se})
    return {"f": f, "df1": t - 1, "df2": df2, "p_value": p, "differences": pairs, "by_test": single}


def _single_test(theta_i: np.ndarray, cov: np.ndarray, i: int, r: int, q: float, name: str) -> dict:
    """CI of one test's reader-averaged AUC from that test's data only (Hillis 2007, section 6)."""
    block = cov[i * r:(i + 1) * r, i * r:(i + 1) * r]
    off = block[~np.eye(r, dtype=bool)]
    cov2 = float(off.mean()) if off.size else math.nan
    mean = float(theta_i.mean())
    ms_r = float(((theta_i - mean) ** 2).sum()) / (r - 1)
    den = ms_r + r * max(cov2, 0.0)
    if den <= 0:
        return {"test": name, "estimate": mean, "se": math.nan, "df": math.nan, "ci_low": math.nan,
                "ci_high": math.nan}
    se = math.sqrt(den / r)
    df = den ** 2 / (ms_r ** 2 / (r - 1)) if ms_r > 0 else math.inf
    tq = float(stats.t.ppf(q, df)) if math.isfinite(df) else float(stats.norm.ppf(q))
    return {"test": name, "estimate": mean, "se": se, "df": df, "ci_low": mean - tq * se, "ci_high": mean + tq * se}


def readers_vs_standalone(truth, reader_scores, ai_score, *, covariance: str = "jackknife",
                          confidence: float = 0.95, label: str = "readers") -> dict:
    """Readers (r, n) against one stand-alone algorithm (n,): OR with the algorithm as a second test whose
    "readers" all give its output (its AUC then varies with the cases only, never with readers)."""
    rs = np.asarray(reader_scores, dtype=float)
    ai = np.asarray(ai_score, dtype=float)
    stacked = np.stack([rs, np.broadcast_to(ai, rs.shape)])
    return or_hillis(truth, stacked, tests=[label, "AI"], covariance=covariance, confidence=confidence)
