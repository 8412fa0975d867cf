"""Statistics of a stored evaluation, recomputed from its per-case predictions every time.

Why here and recomputed: the store holds only cases (DESIGN.md section 3); the ``evaluate`` command, the
``report`` command and the dashboard's evaluation pages all need the same summary of those cases, so it is
built once, from :mod:`core.evaluation` (DeLong AUC CI, Wilson CIs, rule scoring), at image level and at
patient level (images of a patient combined by the evaluation's aggregation, mean by default).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from core.errors import InputError
from core.evaluation import (binary_metrics, delong_ci, delong_test, multiclass_metrics, multiclass_roc, roc_curve,
                             rule_performance)
from core.tasks import positive_index
from core.training.aggregate import aggregate_scores

THRESHOLD_METRICS = ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")
RULE_TITLES = {"crl_low": "CRL", "fhr_low": "HR", "both_low": "CRL+HR"}
BASELINE = "baseline_score"


def class_names(meta: dict, df: pd.DataFrame) -> list[str]:
    names = list(meta.get("class_names") or [])
    if names:
        return names
    return sorted({str(t) for t in df["truth"].dropna()})


def binary_truth(meta: dict, names: list[str], truth_index) -> np.ndarray:
    """0/1 truth of a binary evaluation's cases (1 = the positive class, :func:`core.tasks.positive_index` of
    the class names and meta ``positive_label``); all 0 when only one class name is known."""
    pos = positive_index(names, meta.get("positive_label"))
    return (np.asarray(truth_index, dtype=float) == (-1 if pos is None else pos)).astype(int)


def _score_matrix(df: pd.DataFrame, n_classes: int) -> np.ndarray:
    return np.array([list(s) for s in df["scores"]], dtype=float).reshape(len(df), n_classes)


def patient_level(df: pd.DataFrame, *, names: list[str], method: str = "mean") -> pd.DataFrame:
    """One row per patient: scores combined by ``method``; truth, rule flags and subgroup fields taken from the
    patient's first case (they describe the pregnancy, not the picture)."""
    work = df.copy()
    score_cols = ["score"] if work["score"].notna().all() else []
    if work["scores"].notna().all() and names:
        matrix = _score_matrix(work, len(names))
        for j in range(len(names)):
            work[f"score_{j}"] = matrix[:, j]
            score_cols.append(f"score_{j}")
    conflicting = work.groupby("patient_id")["truth"].nunique(dropna=True)
    if (conflicting > 1).any():
        bad = conflicting[conflicting > 1].index[0]
        raise InputError(f"patient {bad!r} has cases with different truths; patient-level results need one")
    keep = [c for c in work.columns if c not in score_cols and c not in ("patient_id", "scores", "case_id")]
    out = aggregate_scores(work, method=method, score_cols=score_cols, keep=keep)
    if any(c.startswith("score_") for c in score_cols):
        out["scores"] = out[[f"score_{j}" for j in range(len(names))]].to_numpy().tolist()
    if "score" not in out:
        out["score"] = np.nan
    return out


def _flat(m: dict) -> dict:
    return {"value": m["value"], "ci": [m["ci_low"], m["ci_high"]]}


def _binary(df: pd.DataFrame, *, y: np.ndarray, threshold: float, with_rules: bool) -> dict:
    s = df["score"].to_numpy(dtype=float)
    out: dict = {"n": int(y.size), "n_positive": int(y.sum())}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined metrics come back as NaN, shown as "n/a"
        if 0 < y.sum() < y.size:
            auc = delong_ci(y, s)
            out["auc"] = {"value": auc["auc"], "ci": [auc["ci_low"], auc["ci_high"]]}
            curve = roc_curve(y, s)
            out["roc"] = {"fpr": list(map(float, curve["fpr"])), "tpr": list(map(float, curve["tpr"]))}
        else:
            out["auc"] = {"value": math.nan, "ci": [math.nan, math.nan]}
        m = binary_metrics(y, s, threshold=threshold)
        out.update({k: _flat(m[k]) for k in THRESHOLD_METRICS})
        out["threshold"] = threshold
        out["counts"] = m["counts"]
        if with_rules:  # the rules describe a pregnancy: scored once per patient, not once per image
            out["rules"] = _rules(df, y)
            out.update(_baseline(df, y, s))
    return out


def _baseline(df: pd.DataFrame, y: np.ndarray, s: np.ndarray) -> dict:
    """The continuous rules baseline (``baseline_score``: logistic regression on CRL, FHR, GA fitted in the
    CNN's folds) with its own ROC and the paired DeLong test against the model, when the cases carry it."""
    if BASELINE not in df or df[BASELINE].isna().any() or not 0 < y.sum() < y.size:
        return {}
    b = pd.to_numeric(df[BASELINE], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(b).all():
        return {}
    test = delong_test(y, s, b)
    curve = roc_curve(y, b)
    return {"baseline": {"auc": {"value": test["auc2"], "ci": list(test["ci2"])}, "delong_p": test["p_value"],
                         "difference": test["difference"], "difference_ci": list(test["difference_ci"]),
                         "roc": {"fpr": list(map(float, curve["fpr"])), "tpr": list(map(float, curve["tpr"]))}}}


def _rules(df: pd.DataFrame, y: np.ndarray) -> dict:
    rules = {}
    for col, title in RULE_TITLES.items():
        if col not in df or df[col].isna().all():
            continue
        flags = [None if pd.isna(v) else bool(v) for v in df[col]]
        try:
            r = rule_performance(y, flags)
        except InputError:
            continue
        rules[title] = {"sensitivity": _flat(r["sensitivity"]), "specificity": _flat(r["specificity"]),
                        "auc": r["auc"], "n": r["counts"]["n"], "n_excluded": r["n_excluded"]}
    return rules


def _multiclass(df: pd.DataFrame, *, names: list[str]) -> dict:
    y = df["truth_index"].astype(int).to_numpy()
    proba = _score_matrix(df, len(names))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        roc = multiclass_roc(y, proba, classes=list(range(len(names))))
        acc = multiclass_metrics(y, proba, classes=list(range(len(names))))
    per_class = {names[j]: roc["per_class"][j]["auc"] for j in range(len(names))}
    return {"n": int(y.size), "auc": {"value": roc["macro_auc"], "ci": [math.nan, math.nan]},
            "micro_auc": roc["micro_auc"], "macro_auc": roc["macro_auc"], "accuracy": {"value": acc["accuracy"],
            "ci": [math.nan, math.nan]}, "per_class_auc": per_class,
            "roc": {names[j]: {"fpr": list(map(float, roc["per_class"][j]["fpr"])),
                               "tpr": list(map(float, roc["per_class"][j]["tpr"]))} for j in range(len(names))}}


def summarize(meta: dict, df: pd.DataFrame, *, level: str = "patient") -> dict:
    """The evaluation's statistics at ``level`` ("image" or "patient"), from its stored cases.

    Binary evaluations: AUC with DeLong CI, threshold metrics with Wilson CIs, the ROC curve and (when the
    cases carry them) the CRL/HR/CRL+HR rules. Multi-class: per-class, micro and macro AUC and accuracy.
    """
    if level not in ("image", "patient"):
        raise InputError(f"level {level!r}: choose image or patient")
    names = class_names(meta, df)
    labelled = df[df["truth_index"].notna()]
    if labelled.empty:
        raise InputError(f"evaluation {meta.get('name')!r} has no case with a known truth")
    if level == "patient":
        labelled = patient_level(labelled, names=names, method=str(meta.get("aggregation") or "mean"))
    threshold = float(meta.get("threshold", 0.5))
    if len(names) <= 2 and labelled["score"].notna().all():
        out = _binary(labelled, y=binary_truth(meta, names, labelled["truth_index"]), threshold=threshold,
                      with_rules=level == "patient")
    elif labelled["scores"].notna().all():
        out = _multiclass(labelled, names=names)
    else:
        raise InputError(f"evaluation {meta.get('name')!r}: cases lack the scores needed for statistics")
    out["level"] = level
    return out


def headline(summary: dict) -> dict:
    """The flat dict the ``evaluate --json`` line carries: value and ``<name>_ci`` per metric."""
    out = {}
    for key, value in summary.items():
        if isinstance(value, dict) and "value" in value:
            out[key] = value["value"]
            out[f"{key}_ci"] = value["ci"]
        elif key in ("n", "n_positive", "micro_auc", "macro_auc", "threshold", "level", "per_class_auc"):
            out[key] = value
    if summary.get("baseline"):
        b = summary["baseline"]
        out["baseline"] = {"auc": b["auc"]["value"], "auc_ci": b["auc"]["ci"], "delong_p": b["delong_p"]}
    if summary.get("rules"):
        out["rules"] = {k: {"sensitivity": v["sensitivity"]["value"], "specificity": v["specificity"]["value"],
                            "auc": v["auc"]} for k, v in summary["rules"].items()}
    return out
