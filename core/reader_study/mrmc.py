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

COVARIANCE_METHODS = ("jackknife", "delong")


def _auc_matrix(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Empirical (Mann-Whitney, ties 1/2) AUC of each row of ``scores`` (k, n) against 0/1 ``truth``."""
    pos, neg = scores[:, truth == 1], scores[:, truth == 0]
    gt = (pos[:, :, None] > neg[:, None, :]).mean(axis=(1, 2))
    eq = (pos[:, :, None] == neg[:, None, :]).mean(axis=(1, 2))
    return gt + 0.5 * eq


def jackknife_covariance(truth, scores) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of the rows of ``scores`` (k, n) and their leave-one-case-out jackknife covariance (k, k)."""
    t = np.asarray(truth, dtype=int)
    s = np.asarray(scores, dtype=float)
    n = t.size
    aucs = _auc_matrix(t, s)
    keep = np.ones(n, dtype=bool)
    jk = np.empty((n, s.shape[0]))
    for c in range(n):
        keep[c] = False
        jk[c] = _auc_matrix(t[keep], s[:, keep])
        keep[c] = True
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
              confidence: float = 0.95) -> dict:
    """OR analysis of ``scores`` shaped (t tests, r readers, n cases) against 0/1 ``truth`` (n,).

    Returns AUCs per test and reader, the variance components, the global F test (F, df1, df2 = Hillis ddf,
    p), pairwise test differences with CIs, and per-test CIs.

    Example (Van Dyke et al. 1993, as analysed in MRMCaov/RJafroc): F = 4.456, ddf = 15.26, p = 0.0517.
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
    if covariance == "jackknife":
        aucs, cov = jackknife_covariance(y, flat)
    else:
        from core.evaluation.delong import delong_covariance

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
    return {
        "tests": tests, "readers": readers, "auc": theta.tolist(), "auc_by_test": ti.tolist(), "n_cases": n,
        "n_pos": int(y.sum()), "covariance_method": covariance,
        "components": {"var_error": comp["var"], "cov1": comp["cov1"], "cov2": comp["cov2"], "cov3": comp["cov3"],
                       "ms_t": ms_t, "ms_r": ms_r, "ms_tr": ms_tr},
        "f": f_stat, "df1": t - 1, "df2": ddf, "p_value": p, "differences": pairs, "by_test": single,
    }


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
