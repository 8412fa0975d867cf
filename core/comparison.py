"""CNN versus the CRL/FHR rules on one stored evaluation, recomputed from its per-case predictions.

Why a core module: the dashboard's "CNN versus rules" page, scripts and tests must get the same numbers.
Everything is at patient level (the images of a patient combined as the evaluation says) and recomputed
from the stored cases and clinical values, so an edited rule table or a moved threshold is honoured at once.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from core.errors import InputError

RULES = {"CRL": "crl_low", "HR": "fhr_low", "CRL+HR": "both_low"}


def patient_cases(meta: dict, cases: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Patient-level table of a binary evaluation and its 0/1 truth (1 = the positive class)."""
    from core.store.summary import binary_truth, class_names, patient_level

    names = class_names(meta, cases)
    labelled = cases[cases["truth_index"].notna()]
    if len(names) != 2 or labelled["score"].isna().any():
        raise InputError(f"evaluation {meta.get('name')!r} is not a binary evaluation with scores")
    patients = patient_level(labelled, names=names, method=str(meta.get("aggregation") or "mean"))
    y = binary_truth(meta, names, patients["truth_index"])
    return patients, y


def recompute_rules(patients: pd.DataFrame, table) -> pd.DataFrame:
    """Rule flags from the cases' GA, CRL and FHR under ``table`` (None where not applicable)."""
    from core.rules import apply_rules

    out = patients.copy()
    if not {"ga_weeks", "crl_mm", "fhr_bpm"} <= set(out.columns):
        return out
    flags = []
    for r in out.itertuples():
        ga = getattr(r, "ga_weeks")
        if ga is None or (isinstance(ga, float) and math.isnan(ga)):
            flags.append({"crl_low": None, "fhr_low": None, "both_low": None})
            continue
        flags.append(apply_rules(float(ga), crl_mm=_num(r.crl_mm), fhr_bpm=_num(r.fhr_bpm), table=table))
    for key in RULES.values():
        out[key] = [f[key] for f in flags]
    return out


def _num(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def compare(meta: dict, cases: pd.DataFrame, *, threshold: float = 0.5, rule_table=None) -> dict:
    """ROC of the CNN and of the logistic baseline, rule operating points, metrics at ``threshold``, DeLong.

    Returns a dict with ``n``, ``n_positive``, ``cnn`` (auc, ci, roc fpr/tpr/thresholds, metrics at the
    threshold), ``baseline`` (same, when the cases carry ``baseline_score``), ``delong`` (CNN vs baseline),
    ``rules`` (name -> sensitivity, specificity, AUC = (sens+spec)/2, counts, point fpr/tpr).
    """
    from core.evaluation import binary_metrics, delong_ci, delong_test, roc_curve, rule_performance

    patients, y = patient_cases(meta, cases)
    if not 0 < y.sum() < y.size:
        raise InputError("the evaluation needs patients of both classes for a ROC comparison")
    if rule_table is not None:
        patients = recompute_rules(patients, rule_table)
    out = {"n": int(y.size), "n_positive": int(y.sum()), "threshold": float(threshold)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined metrics come back as NaN and are shown as such
        out["cnn"] = _scored(y, patients["score"].to_numpy(float), threshold, delong_ci, roc_curve, binary_metrics)
        if "baseline_score" in patients and patients["baseline_score"].notna().all():
            base = patients["baseline_score"].to_numpy(float)
            out["baseline"] = _scored(y, base, 0.5, delong_ci, roc_curve, binary_metrics)
            out["delong"] = delong_test(y, patients["score"].to_numpy(float), base)
        out["rules"] = {}
        for title, col in RULES.items():
            if col not in patients or patients[col].isna().all():
                continue
            flags = [None if pd.isna(v) else bool(v) for v in patients[col]]
            r = rule_performance(y, flags)
            out["rules"][title] = {"sensitivity": r["sensitivity"], "specificity": r["specificity"],
                                   "auc": r["auc"], "n": r["counts"]["n"], "n_excluded": r["n_excluded"],
                                   "fpr": 1 - r["specificity"]["value"], "tpr": r["sensitivity"]["value"]}
    out["patients"] = patients
    out["y"] = y
    return out


def _scored(y, s, threshold, delong_ci, roc_curve, binary_metrics) -> dict:
    auc = delong_ci(y, s)
    curve = roc_curve(y, s)
    return {"auc": auc["auc"], "auc_ci": [auc["ci_low"], auc["ci_high"]],
            "roc": {k: np.asarray(curve[k], float) for k in ("fpr", "tpr", "thresholds")},
            "metrics": binary_metrics(y, s, threshold=threshold)}


def per_week_table(meta: dict, patients: pd.DataFrame, y: np.ndarray, *, threshold: float = 0.5) -> pd.DataFrame:
    """Metrics of the CNN per completed gestational week (the paper's subgroup table)."""
    from core.evaluation import subgroup_metrics

    if "ga_weeks" not in patients:
        return pd.DataFrame()
    work = pd.DataFrame({"week": np.floor(patients["ga_weeks"].astype(float)).astype("Int64"), "truth": y,
                         "score": patients["score"].astype(float).to_numpy()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = subgroup_metrics(work, by="week", truth="truth", score="score", threshold=threshold)
    table["group"] = table["group"].astype(str)  # weeks and the "all" row in one text column
    return table
