"""Rendering of the Evaluations page: overlaid ROC/PR curves, CIs, confusion matrix, subgroups, calibration."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.resources import evaluation


def curves_for(names: list[str], level: str) -> tuple[dict, dict, list]:
    """ROC and PR curves of several binary evaluations (patient or image level), plus a summary table."""
    from core.comparison import patient_cases
    from core.evaluation import delong_ci, pr_curve, roc_curve
    from core.store.summary import class_names, positive_index

    roc, pr, rows = {}, {}, []
    for name in names:
        meta, cases = evaluation(name)
        labels = class_names(meta, cases)
        if len(labels) != 2:
            continue
        if level == "patient":
            df, y = patient_cases(meta, cases)
        else:
            df = cases[cases["truth_index"].notna()]
            y = (df["truth_index"].astype(int) == positive_index(meta, labels)).astype(int).to_numpy()
        s = df["score"].to_numpy(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c, p, a = roc_curve(y, s), pr_curve(y, s), delong_ci(y, s)
        roc[name] = {"fpr": c["fpr"], "tpr": c["tpr"], "thresholds": c["thresholds"], "auc": a["auc"]}
        pr[name] = {"recall": p["recall"], "precision": p["precision"], "ap": p["average_precision"]}
        rows.append({"evaluation": name, "n": int(y.size), "positives": int(y.sum()), "AUC": round(a["auc"], 4),
                     "AUC 95% CI": f"{a['ci_low']:.3f}–{a['ci_high']:.3f}", "AP": round(p["average_precision"], 4)})
    return roc, pr, rows


def binary_details(name: str, level: str, threshold: float) -> None:
    """Threshold metrics with CIs, confusion matrix, calibration and decision curves of one evaluation."""
    from core.comparison import patient_cases
    from core.evaluation import binary_metrics, calibration_summary, decision_curve

    meta, cases = evaluation(name)
    df, y = patient_cases(meta, cases) if level == "patient" else _image_level(meta, cases)
    s = df["score"].to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = binary_metrics(y, s, threshold=threshold)
        cal = calibration_summary(y, s)
        dec = decision_curve(y, s)
    rows = [{"metric": k, "value": round(m[k]["value"], 4), "95% CI": f"{m[k]['ci_low']:.3f}–{m[k]['ci_high']:.3f}"}
            for k in ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")]
    c1, c2 = st.columns(2)
    c1.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    k = m["counts"]
    c2.plotly_chart(charts.confusion_figure(np.array([[k["tn"], k["fp"]], [k["fn"], k["tp"]]]), ["neg", "pos"]),
                    width="stretch")
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.calibration_figure({name: cal["curve"]}), width="stretch")
    c1.caption(f"Brier {cal['brier']:.4f}, ECE {cal['ece']:.4f}")
    curves = {name: {"thresholds": dec["thresholds"], "net_benefit": dec["net_benefit"]},
              "treat all": {"thresholds": dec["thresholds"], "net_benefit": dec["treat_all"]},
              "treat none": {"thresholds": dec["thresholds"], "net_benefit": np.zeros_like(dec["thresholds"])}}
    c2.plotly_chart(charts.decision_figure(curves), width="stretch")
    subgroup_table(df, y, threshold)


def _image_level(meta, cases):
    from core.store.summary import class_names, positive_index

    df = cases[cases["truth_index"].notna()]
    y = (df["truth_index"].astype(int) == positive_index(meta, class_names(meta, cases))).astype(int).to_numpy()
    return df, y


def subgroup_table(df: pd.DataFrame, y: np.ndarray, threshold: float) -> None:
    from core.evaluation import subgroup_metrics

    candidates = [c for c in df.columns if c in ("plane", "ga_weeks", "trimester", "centre", "fold")
                  or (df[c].dtype == object and 1 < df[c].nunique() <= 12 and c not in
                      ("truth", "case_id", "patient_id", "scores"))]
    if not candidates:
        return
    by = st.selectbox("Subgroup by", candidates, key="subgroup_by")
    work = pd.DataFrame({"group": df[by].to_numpy(), "truth": y, "score": df["score"].to_numpy(float)})
    if by == "ga_weeks":
        work["group"] = np.floor(work["group"].astype(float)).astype("Int64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = subgroup_metrics(work, by="group", truth="truth", score="score", threshold=threshold)
    table["group"] = table["group"].astype(str)  # group values and the "all" row in one text column
    st.dataframe(table.round(4), hide_index=True, width="stretch")


def multiclass_details(name: str) -> None:
    from core.evaluation import multiclass_pr, multiclass_roc
    from core.store.summary import class_names

    meta, cases = evaluation(name)
    labels = class_names(meta, cases)
    df = cases[cases["truth_index"].notna() & cases["scores"].notna()]
    y = df["truth_index"].astype(int).to_numpy()
    proba = np.array([list(s) for s in df["scores"]], float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        roc = multiclass_roc(y, proba, classes=list(range(len(labels))))
        pr = multiclass_pr(y, proba, classes=list(range(len(labels))))
    curves = {labels[j]: {"fpr": roc["per_class"][j]["fpr"], "tpr": roc["per_class"][j]["tpr"],
                          "auc": roc["per_class"][j]["auc"]} for j in range(len(labels))}
    for key in ("micro", "macro"):
        if roc.get(key):
            curves[f"{key}-average"] = {"fpr": roc[key]["fpr"], "tpr": roc[key]["tpr"], "auc": roc[f"{key}_auc"]}
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.roc_figure(curves), width="stretch")
    c2.plotly_chart(charts.pr_figure({labels[j]: {"recall": pr["per_class"][j]["recall"],
                                                  "precision": pr["per_class"][j]["precision"],
                                                  "ap": pr["per_class"][j]["average_precision"]}
                                      for j in range(len(labels))}), width="stretch")
    pred = proba.argmax(axis=1)
    st.plotly_chart(charts.confusion_figure(_confusion(y, pred, len(labels)), labels), width="stretch")
    st.caption(f"micro AUC {roc['micro_auc']:.3f}, macro AUC {roc['macro_auc']:.3f}, "
               f"accuracy {(pred == y).mean():.3f} (image level, {len(y)} images)")


def _confusion(y, pred, k: int) -> np.ndarray:
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y, pred, labels=list(range(k)))
