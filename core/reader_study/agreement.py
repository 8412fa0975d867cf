"""Agreement between readers: Cohen's kappa per pair (weighted or not, with SE) and Fleiss' kappa overall (by hand).

Why Fleiss by hand: statsmodels (which has it) is not a SonoDash dependency, and the formula is short.
Fleiss (1971), Psychological Bulletin 76:378-382: with N subjects, n raters per subject and n_ij raters
putting subject i into category j, P_i = (sum_j n_ij^2 - n) / (n (n - 1)), P_bar = mean P_i,
p_j = sum_i n_ij / (N n), P_e = sum_j p_j^2 and kappa = (P_bar - P_e) / (1 - P_e).
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np

from core.errors import InputError
from core.evaluation.kappa import cohen_kappa


def fleiss_kappa(counts) -> float:
    """Fleiss' kappa from a subjects x categories table of rater counts (every row sums to the same n).

    >>> round(fleiss_kappa([[2, 0], [0, 2], [1, 1]]), 3)
    0.333
    """
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2 or table.shape[0] < 1 or table.shape[1] < 2:
        raise InputError(f"fleiss_kappa needs a subjects x categories table; got shape {table.shape}")
    if (table < 0).any() or not np.isfinite(table).all():
        raise InputError("fleiss_kappa: counts must be finite and non-negative")
    n = table.sum(axis=1)
    if not np.allclose(n, n[0]) or n[0] < 2:
        raise InputError(f"fleiss_kappa: every subject needs the same number (>= 2) of ratings; got {sorted(set(n))}")
    raters, subjects = n[0], table.shape[0]
    p_i = ((table ** 2).sum(axis=1) - raters) / (raters * (raters - 1))
    p_j = table.sum(axis=0) / (subjects * raters)
    p_bar, p_e = float(p_i.mean()), float((p_j ** 2).sum())
    if math.isclose(p_e, 1.0):
        warnings.warn("Fleiss' kappa is undefined: every rating is in one category", RuntimeWarning, stacklevel=2)
        return math.nan
    return (p_bar - p_e) / (1.0 - p_e)


def fleiss_from_labels(labels_by_rater: dict, *, categories) -> float:
    """Fleiss' kappa from {rater: sequence of labels}, aligned by subject (all raters rate all subjects)."""
    rows = list(zip(*labels_by_rater.values()))
    index = {c: k for k, c in enumerate(categories)}
    table = np.zeros((len(rows), len(index)))
    for i, row in enumerate(rows):
        for value in row:
            table[i, index[value]] += 1
    return fleiss_kappa(table)


def cohen_pairs(labels_by_rater: dict, *, categories, weights: str | None = None,
                confidence: float = 0.95) -> list[dict]:
    """Cohen's kappa of every pair of raters, NaN when undefined (one category only).

    ``weights`` None, "linear" or "quadratic" (ordinal ``categories`` in scale order); each pair also gets the
    Fleiss-Cohen-Everitt SE and CI from :func:`core.evaluation.kappa.cohen_kappa` (point value as
    scikit-learn's ``cohen_kappa_score``).
    """
    out = []
    for a, b in itertools.combinations(labels_by_rater, 2):
        x, y = list(labels_by_rater[a]), list(labels_by_rater[b])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = cohen_kappa(x, y, weights=weights, labels=list(categories), confidence=confidence) if x else {}
        agree = float(np.mean([u == v for u, v in zip(x, y)])) if x else math.nan
        out.append({"reader_a": a, "reader_b": b, "kappa": r.get("kappa", math.nan), "se": r.get("se", math.nan),
                    "ci_low": r.get("ci_low", math.nan), "ci_high": r.get("ci_high", math.nan),
                    "agreement": agree, "n": len(x), "weights": weights})
    return out
