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
    from core.store.summary import binary_truth, class_names

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
            y = binary_truth(meta, labels, df["truth_index"])
        s = df["score"].to_numpy(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c, p, a = roc_curve(y, s), pr_curve(y, s), delong_ci(y, s)
        roc[name] = {"fpr": c["fpr"], "tpr": c["tpr"], "thresholds": c["thresholds"], "auc": a["auc"]}
        pr[name] = {"recall": p["recall"], "precision": p["precision"], "ap": p["average_precision"]}
        rows.append({"evaluation": name, "n": int(y.size), "positives": int(y.sum()), "AUC": round(a["auc"], 4),
                     "AUC 95% CI": f"{a['ci_low']:.3f}–{a['ci_high']:.3f}", "AP": round(p["average_precision"], 4)})
    return roc, pr, rows


N_BOOT = 2000   # pROC's default; replicate curves are computed in one batch (core.evaluation._curves_batch)


@st.cache_data(show_spinner=False, max_entries=64)
def roc_statistics(name: str, level: str, specificity: float, threshold: float, n_boot: int = N_BOOT) -> pd.DataFrame:
    """pROC-style read-outs of one evaluation: AUC with DeLong and stratified-bootstrap CIs, partial AUC over
    specificity [specificity, 1] (raw and McClish) and the sensitivity at ``specificity`` with bootstrap CIs,
    calibration slope / intercept (Wald CIs) and the likelihood ratios at ``threshold``. Cached per input."""
    from core.comparison import patient_cases
    from core.evaluation import (
        binary_metrics, calibration_slope_intercept, ci_auc_bootstrap, ci_se, delong_ci, likelihood_ratios,
    )

    meta, cases = evaluation(name)
    df, y = patient_cases(meta, cases) if level == "patient" else _image_level(meta, cases)
    s = df["score"].to_numpy(float)
    boot = dict(n_boot=n_boot, seed=0, stratified=True, direction="<")
    rows = []

    def add(stat, value, low, high, how):
        rows.append({"statistic": stat, "value": value, "95% CI low": low, "95% CI high": high, "method": how})

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = delong_ci(y, s)
        add("AUC", d["auc"], d["ci_low"], d["ci_high"], "DeLong")
        b = ci_auc_bootstrap(y, s, **boot)
        add("AUC", b["estimate"], b["ci_low"], b["ci_high"], f"stratified bootstrap ({n_boot})")
        if specificity < 1:
            for correct, label in ((False, "partial AUC"), (True, "partial AUC (McClish)")):
                p = ci_auc_bootstrap(y, s, partial=(specificity, 1.0), correct=correct, **boot)
                add(f"{label}, specificity {specificity:g}–1", p["estimate"], p["ci_low"], p["ci_high"],
                    f"stratified bootstrap ({n_boot})")
        c = ci_se(y, s, [specificity], **boot)
        low, _, high = c["sensitivity"][0]
        add(f"sensitivity at specificity {specificity:g}", c["estimate"]["sensitivity"][0], low, high,
            f"interpolated (pROC ci.se), bootstrap ({n_boot})")
        if ((s >= 0) & (s <= 1)).all():
            cal = calibration_slope_intercept(y, s)
            add("calibration slope", cal["slope"], *cal["slope_ci"], "logistic recalibration (Wald)")
            add("calibration intercept", cal["intercept"], *cal["intercept_ci"], "calibration-in-the-large (Wald)")
        k = binary_metrics(y, s, threshold=threshold)["counts"]
        lr = likelihood_ratios(k["tp"], k["fp"], k["fn"], k["tn"])
        for key, label in (("lr_positive", "LR+"), ("lr_negative", "LR−"), ("dor", "diagnostic odds ratio")):
            add(f"{label} at threshold {threshold:g}", lr[key]["value"], lr[key]["ci_low"], lr[key]["ci_high"],
                "log method")
    return pd.DataFrame(rows)


def roc_statistics_table(name: str, level: str, specificity: float, threshold: float) -> None:
    """The table of :func:`roc_statistics`, NaN shown as a dash (undefined: e.g. a zero cell)."""
    st.markdown("**ROC statistics** (pROC conventions; CIs at 95 %)")
    table = roc_statistics(name, level, float(specificity), float(threshold))
    shown = table.copy()
    for col in ("value", "95% CI low", "95% CI high"):
        shown[col] = [("—" if not np.isfinite(v) else f"{v:.3f}") for v in table[col]]
    st.dataframe(shown, hide_index=True, width="stretch", key="roc_statistics")


def binary_details(name: str, level: str, threshold: float, specificity: float = 0.9) -> None:
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
    protocol = _protocol(meta)
    rows = [{"metric": k, "value": round(m[k]["value"], 4), "95% CI": f"{m[k]['ci_low']:.3f}–{m[k]['ci_high']:.3f}"}
            for k in threshold_metrics(protocol.metrics if protocol else ())]
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
    roc_statistics_table(name, level, specificity, threshold)
    subgroup_table(df, y, threshold, protocol.subgroups if protocol else ())


THRESHOLD_METRICS = ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")
_METRIC_ALIASES = {"precision": "ppv", "recall": "sensitivity"}


def _task(meta: dict):
    """The evaluated task (None for a task no longer registered: the full tables are shown)."""
    from core.tasks import get_task

    try:
        return get_task(str(meta.get("task")))
    except (KeyError, ValueError):    # core.errors.InputError is a ValueError
        return None


def _protocol(meta: dict):
    task = _task(meta)
    return task.protocol if task else None


def paper_note(name: str) -> None:
    """The study paper's reported figures (Task.paper) beside its evaluation: (value, low, high) is a 95 % CI,
    (value, sd) a mean and its standard deviation."""
    task = _task(evaluation(name)[0])
    if task is not None and task.paper:
        def figure(v):
            return f"{v[0]} ({v[1]}–{v[2]})" if isinstance(v, tuple) and len(v) == 3 else (
                f"{v[0]} ± {v[1]}" if isinstance(v, tuple) and len(v) == 2 else str(v))
        st.caption(f"{name} — the paper's figures ({task.title}): "
                   + "; ".join(f"{k.replace('_', ' ')} {figure(v)}" for k, v in task.paper.items()))


def threshold_metrics(metrics) -> list[str]:
    """The threshold metrics the study's protocol reports, in its order (precision = PPV, recall =
    sensitivity); all of them when it names none (e.g. a segmentation study's protocol, or no task)."""
    chosen = [_METRIC_ALIASES.get(m, m) for m in metrics]
    chosen = list(dict.fromkeys(m for m in chosen if m in THRESHOLD_METRICS))
    return chosen or list(THRESHOLD_METRICS)


def _image_level(meta, cases):
    from core.store.summary import binary_truth, class_names

    df = cases[cases["truth_index"].notna()]
    y = binary_truth(meta, class_names(meta, cases), df["truth_index"])
    return df, y


def subgroup_table(df: pd.DataFrame, y: np.ndarray, threshold: float, subgroups=()) -> None:
    from core.evaluation import subgroup_choices, subgroup_metrics

    candidates = subgroup_choices(df, subgroups)
    if not candidates:
        return
    by = st.selectbox("Subgroup by", list(candidates), key="subgroup_by")
    group = pd.Series(candidates[by])
    if group.dtype.kind == "f" and (group.dropna() % 1 == 0).all():
        group = group.astype("Int64")      # weeks, trimesters: 12, not 12.0
    work = pd.DataFrame({"group": group.to_numpy(), "truth": y, "score": df["score"].to_numpy(float)})
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
    summary = multiclass_summary(name)
    st.dataframe(summary, hide_index=True, width="stretch", key=f"multiclass_auc_{name}")


@st.cache_data(show_spinner=False, max_entries=32)
def multiclass_summary(name: str, n_boot: int = 500) -> pd.DataFrame:
    """Hand-Till one-vs-one and support-weighted AUCs with class-stratified bootstrap CIs (image level)."""
    from core.evaluation.multiclass_auc import multiclass_auc

    meta, cases = evaluation(name)
    df = cases[cases["truth_index"].notna() & cases["scores"].notna()]
    y = df["truth_index"].astype(int).to_numpy()
    proba = np.array([list(v) for v in df["scores"]], float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = multiclass_auc(y, proba, n_boot=n_boot, seed=0)
    labels = {"ovo_macro": "one-vs-one (Hand–Till)", "ovo_weighted": "one-vs-one, prevalence-weighted",
              "ovr_macro": "one-vs-rest, macro", "ovr_weighted": "one-vs-rest, support-weighted"}
    return pd.DataFrame([{"multi-class AUC": labels[k], "value": round(r[k], 3),
                          "95% CI": f"{r['ci'][k][0]:.3f}–{r['ci'][k][1]:.3f}"} for k in labels])


def _confusion(y, pred, k: int) -> np.ndarray:
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y, pred, labels=list(range(k)))
