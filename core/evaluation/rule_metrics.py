"""How well do the CRL/FHR rules predict the outcome? Binary metrics of rule flags, as in the paper's Table 3.

Why separate from :mod:`core.rules`: the rules themselves are a cheap clinical computation used by pages and
``predict``; scoring them needs the statistics stack. Cases where a rule is not applicable or its flag is
unknown (None) are excluded and counted — the paper's Table 3 is likewise computed on the cases with values.
"""

from __future__ import annotations

import numpy as np

from core.evaluation._validation import check_binary_truth, show
from core.evaluation.binary import binary_metrics
from core.errors import InputError

RULES = ("crl_low", "fhr_low", "both_low")
RULE_TITLES = {"crl_low": "CRL", "fhr_low": "HR", "both_low": "CRL+HR"}


def _flag(v, i):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)) or v in (0, 1):
        return bool(v)
    raise InputError(f"flags[{i}] = {show(v)} is not True, False or None")


def rule_performance(y_true, flags, *, pos_label=None, method: str = "wilson", confidence: float = 0.95) -> dict:
    """Sensitivity, specificity, PPV, NPV, accuracy, F1 with CIs and the single-point AUC (sens+spec)/2.

    Parameters
    ----------
    y_true : array-like of 0/1 (1 = the adverse outcome, e.g. miscarriage) or two labels with ``pos_label``
    flags : array-like of True / False / None
        A rule's output per case (True = rule says "low", i.e. predicts the adverse outcome).

    Returns
    -------
    dict
        :func:`~core.evaluation.binary.metrics_from_counts` plus ``n_excluded`` (cases with a None flag).

    Examples
    --------
    >>> r = rule_performance([1, 1, 0, 0, 0], [True, False, False, None, True])
    >>> r["counts"]["n"], r["n_excluded"], r["auc"]
    (4, 1, 0.5)
    """
    t = check_binary_truth(y_true, pos_label=pos_label)
    f = [_flag(v, i) for i, v in enumerate(np.asarray(flags, dtype=object).reshape(-1))]
    if len(f) != t.size:
        raise InputError(f"y_true has {t.size} values but flags has {len(f)}")
    keep = np.array([v is not None for v in f], dtype=bool)
    if not keep.any():
        raise InputError("no case has a rule flag (every case is not applicable or missing a value)")
    pred = np.array([bool(v) for v in f if v is not None], dtype=np.int8)
    out = binary_metrics(t[keep], y_pred=pred, method=method, confidence=confidence)
    out["n_excluded"] = int((~keep).sum())
    return out


def rules_table(y_true, rule_frame, *, pos_label=None, method: str = "wilson", confidence: float = 0.95) -> dict:
    """:func:`rule_performance` for each of CRL, HR and CRL+HR from an ``apply_rules_frame`` result.

    Returns ``{"CRL": {...}, "HR": {...}, "CRL+HR": {...}}``.
    """
    missing = [c for c in RULES if c not in rule_frame.columns]
    if missing:
        raise InputError(f"rule table lacks column(s) {missing!r}")
    return {RULE_TITLES[c]: rule_performance(y_true, rule_frame[c].to_numpy(), pos_label=pos_label,
                                             method=method, confidence=confidence) for c in RULES}
