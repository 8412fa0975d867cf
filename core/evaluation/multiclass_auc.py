"""Multi-class AUC summaries beyond micro / macro one-vs-rest: Hand-Till one-vs-one and support-weighted, with CIs.

Why: with five CNS classes of very different sizes, one-vs-rest AUCs depend on the class mix of "the rest".
Hand & Till (2001, Mach Learn 45:171) average over class *pairs* instead: for classes j, k the AUC of column j
separating j from k among those two classes' cases, A(j|k), and A(k|j) likewise; M = mean over pairs of
(A(j|k) + A(k|j)) / 2. That is ``sklearn.metrics.roc_auc_score(multi_class="ovo", average="macro")``;
``average="weighted"`` weights each pair by its prevalence (n_j + n_k). The support-weighted one-vs-rest AUC
weights each class's AUC by its number of cases (``multi_class="ovr", average="weighted"``).
CIs: percentile bootstrap that resamples cases within each class (every replicate keeps every class).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from core.evaluation._validation import check_choice, check_confidence, check_positive_int, undefined
from core.evaluation.bootstrap import weighted_auc
from core.evaluation.multiclass import check_multiclass

SUMMARIES = ("ovo_macro", "ovo_weighted", "ovr_macro", "ovr_weighted")


def _auc(t: np.ndarray, s: np.ndarray) -> float:
    return float(weighted_auc(t, s, np.ones((1, t.size)))[0])


def _summaries(codes: np.ndarray, proba: np.ndarray, k: int) -> dict:
    counts = np.bincount(codes, minlength=k)
    present = np.flatnonzero(counts > 0)
    ovr = np.full(k, math.nan)
    for j in present:
        t = (codes == j).astype(np.int8)
        if 0 < t.sum() < t.size:
            ovr[j] = _auc(t, proba[:, j])
    pairs, weights = [], []
    for j, m in itertools.combinations(present, 2):
        sel = (codes == j) | (codes == m)
        tj = (codes[sel] == j).astype(np.int8)
        a_jm = _auc(tj, proba[sel, j])
        a_mj = _auc(1 - tj, proba[sel, m])
        pairs.append((a_jm + a_mj) / 2.0)
        weights.append(counts[j] + counts[m])
    ok = np.isfinite(ovr)
    return {
        "ovo_macro": float(np.mean(pairs)) if pairs else math.nan,
        "ovo_weighted": float(np.average(pairs, weights=weights)) if pairs else math.nan,
        "ovr_macro": float(np.mean(ovr[ok])) if ok.any() else math.nan,
        "ovr_weighted": float(np.average(ovr[ok], weights=counts[ok])) if ok.any() else math.nan,
        "pairs": {f"{int(j)}|{int(m)}": v for (j, m), v in zip(itertools.combinations(present, 2), pairs)},
    }


def multiclass_auc(y_true, y_proba, *, classes=None, n_boot: int = 0, confidence: float = 0.95,
                   seed: int = 0) -> dict:
    """Hand-Till (one-vs-one, macro and prevalence-weighted) and one-vs-rest (macro and support-weighted) AUCs.

    Parameters
    ----------
    y_true : array-like of class names or column indices
    y_proba : (n, k) array of class scores
    n_boot : int
        0 = no CI; otherwise the number of class-stratified bootstrap replicates for the percentile CIs.

    Returns
    -------
    dict
        ``ovo_macro``, ``ovo_weighted``, ``ovr_macro``, ``ovr_weighted`` (floats), ``pairs`` ({"class_a|class_b":
        pairwise Hand-Till AUC}), and with ``n_boot``: ``ci`` ({summary: [low, high]}), ``n_boot``.

    Examples
    --------
    >>> r = multiclass_auc([0, 1, 2, 2], [[.8, .1, .1], [.2, .7, .1], [.1, .2, .7], [.3, .3, .4]])
    >>> r["ovo_macro"], r["ovr_weighted"]
    (1.0, 1.0)
    """
    codes, proba, classes = check_multiclass(y_true, y_proba, classes=classes)
    n_boot = 0 if n_boot == 0 else check_positive_int(n_boot, name="n_boot")
    c = check_confidence(confidence)
    k = len(classes)
    if np.count_nonzero(np.bincount(codes, minlength=k)) < 2:
        nan = undefined("the multi-class AUC is undefined: y_true holds fewer than two classes")
        return {**{name: nan for name in SUMMARIES}, "pairs": {}, "classes": classes}
    est = _summaries(codes, proba, k)
    names = {str(i): str(name) for i, name in enumerate(classes)}
    est["pairs"] = {"|".join(names[p] for p in key.split("|")): v for key, v in est["pairs"].items()}
    out = {**est, "classes": classes}
    if n_boot:
        rng = np.random.default_rng(seed)
        groups = [np.flatnonzero(codes == j) for j in range(k) if (codes == j).any()]
        reps = np.empty((n_boot, len(SUMMARIES)))
        for b in range(n_boot):
            idx = np.concatenate([g[rng.integers(0, g.size, size=g.size)] for g in groups])
            r = _summaries(codes[idx], proba[idx], k)
            reps[b] = [r[name] for name in SUMMARIES]
        q = [(1 - c) / 2, (1 + c) / 2]
        out["ci"] = {name: [float(v) for v in np.nanquantile(reps[:, i], q)] for i, name in enumerate(SUMMARIES)}
        out.update(n_boot=n_boot, confidence=c, seed=seed)
    return out


def multiclass_auc_summary(y_true, y_proba, *, summary: str = "ovo_macro", classes=None) -> float:
    """One of the four summaries as a float (for bootstrap callbacks and tables)."""
    check_choice(summary, SUMMARIES, name="summary")
    return multiclass_auc(y_true, y_proba, classes=classes)[summary]
