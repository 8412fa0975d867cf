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


# ------------------------------------------------------------------------------ instance segmentation
PAPER_LAYOUT = {"structure": "Structure", "TP": "TP", "FP": "FP", "FN": "FN", "TN": "TN", "accuracy": "Accuracy",
                "recall": "Recall", "precision": "Precision", "f1": "F1", "mask_ap50": "Mask AP",
                "box_ap50": "Box AP"}


def _read_json(path):
    import json
    from pathlib import Path

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _bundle_metrics(path: str, stored: dict | None) -> dict | None:
    """Per-structure metrics of a bundle: its model.json metrics, else its training run folder's
    metrics.json (the trainer keeps the table there, next to the bundle), else the run's per_structure.csv."""
    from pathlib import Path

    if stored and stored.get("per_structure"):
        return stored
    run = Path(path).parent
    found = _read_json(run / "metrics.json")
    if found and found.get("per_structure"):
        return found
    csv = run / "per_structure.csv"
    if csv.is_file():
        return {**(stored or {}), "per_structure": pd.read_csv(csv).to_dict(orient="records")}
    return None


@st.cache_data(ttl=10, show_spinner=False)
def instance_sources(home: str | None = None) -> dict:
    """Label -> metrics with a ``per_structure`` table, from every place one can live: the demo run
    (sample_data/models/<study>/metrics.json), registered instance bundles, and training runs in the store
    folder (SONODASH_HOME/runs/*/metrics.json). ``home`` (the store folder) is part of the cache key, so a
    switched SONODASH_HOME never shows the previous one's runs."""
    from core.demo import DEMO_MODELS
    from core.paths import sonodash_home
    from dashboard.instance_view import is_instance_arch
    from dashboard.resources import bundles

    sources = {}
    for path in sorted(DEMO_MODELS.glob("*/metrics.json")):
        found = _read_json(path)
        if found and found.get("per_structure"):
            sources[f"demo run: {path.parent.name}"] = found
    table = bundles()
    for row in table.itertuples() if not table.empty else ():
        if is_instance_arch(row.arch):
            found = _bundle_metrics(row.path, row.metrics if isinstance(row.metrics, dict) else None)
            if found:
                sources[f"model: {row.name} ({row.task}, {row.arch})"] = found
    from pathlib import Path

    runs = (Path(home) if home else sonodash_home()) / "runs"
    for path in sorted(runs.glob("*/metrics.json")) if runs.is_dir() else ():
        found = _read_json(path)
        if found and found.get("per_structure"):
            sources.setdefault(f"run: {path.parent.name}", found)
    return sources


def per_structure_frame(metrics: dict) -> pd.DataFrame:
    """The paper's table (structure, TP, FP, FN, TN, accuracy, recall, precision, F1, mask AP, box AP) with
    a last row of means (the AP means are the mAP over structures that occur)."""
    df = pd.DataFrame(metrics.get("per_structure") or [])
    df = df.reindex(columns=list(PAPER_LAYOUT))
    numeric = df.columns.drop("structure")
    df[numeric] = df[numeric].apply(pd.to_numeric, errors="coerce")
    mean = df[numeric].mean(numeric_only=True, skipna=True)
    df = pd.concat([df, pd.DataFrame([{"structure": "mean", **mean.to_dict()}])], ignore_index=True)
    df["structure"] = df["structure"].astype(str).str.replace("_", " ")
    return df.rename(columns=PAPER_LAYOUT).round(3)


def _pm(metrics: dict, key: str) -> str:
    value, sd = metrics.get(key), metrics.get(f"{key}_sd")
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    return f"{value:.3f}" + (f" ± {sd:.3f}" if isinstance(sd, (int, float)) and np.isfinite(sd) and sd else "")


def coco_summary(metrics: dict) -> dict:
    """COCO-protocol mask / box mAP@0.5 of a run: its stored means, else the mean of its per-structure COCO APs;
    None where the run predates the COCO protocol (no such column)."""
    rows = pd.DataFrame(metrics.get("per_structure") or [])
    out = {}
    for kind in ("mask", "box"):
        value = metrics.get(f"coco_{kind}_map50")
        col = f"coco_{kind}_ap50"
        if value is None and col in rows:
            vals = pd.to_numeric(rows[col], errors="coerce")
            value = float(vals.mean()) if vals.notna().any() else None
        out[kind] = value
    return out


def coco_section(metrics: dict) -> None:
    """Paper (VOC all-point, best-truth match) and COCO (101-point, unmatched-truth match) mAP side by side."""
    coco = coco_summary(metrics)
    st.markdown("**mAP@0.5 by protocol**")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Paper mask mAP@0.5", _pm(metrics, "mask_map50"))
    c2.metric("COCO mask mAP@0.5", "—" if coco["mask"] is None else f"{coco['mask']:.3f}")
    c3.metric("Paper box mAP@0.5", _pm(metrics, "box_map50"))
    c4.metric("COCO box mAP@0.5", "—" if coco["box"] is None else f"{coco['box']:.3f}")
    rows = pd.DataFrame(metrics.get("per_structure") or [])
    if {"coco_mask_ap50", "coco_box_ap50"} <= set(rows.columns):
        table = rows[["structure", "mask_ap50", "coco_mask_ap50", "box_ap50", "coco_box_ap50"]].copy()
        table["structure"] = table["structure"].astype(str).str.replace("_", " ")
        table = table.rename(columns={"structure": "Structure", "mask_ap50": "Mask AP (paper)",
                                      "coco_mask_ap50": "Mask AP (COCO)", "box_ap50": "Box AP (paper)",
                                      "coco_box_ap50": "Box AP (COCO)"})
        st.dataframe(table.round(3), hide_index=True, width="stretch", key="coco_table")
    st.caption("Paper protocol: VOC all-point AP; a detection whose best-overlapping structure is already taken is "
               "a false positive. COCO protocol (pycocotools COCOeval, AP at IoU 0.5): the detection takes the "
               "best *unmatched* structure and precision is read at 101 recall points."
               + ("" if coco["mask"] is not None else " This run was evaluated before the COCO protocol existed: "
                  "re-train or re-evaluate it to fill the COCO column."))


def instance_section() -> None:
    """First-trimester structures: the per-structure table of a chosen model or run, in the paper's layout."""
    st.subheader("First-trimester structures (instance segmentation)")
    from core.paths import sonodash_home

    sources = instance_sources(str(sonodash_home()))
    if not sources:
        st.info("No instance-segmentation model or run with a per-structure table yet. "
                "`python -m core train --task first_trimester --arch maskrcnn_mobilenet` makes one.")
        return
    choice = st.selectbox("Model or run", list(sources), key="instance_source")
    metrics = sources[choice]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Mask mAP@0.5", _pm(metrics, "mask_map50"))
    c2.metric("Box mAP@0.5", _pm(metrics, "box_map50"))
    c3.metric("View accuracy", _pm(metrics, "view_accuracy"))
    c4.metric("FPS", _pm(metrics, "fps"))
    from core.demo_quality import figures_text, rate

    figures = figures_text(rate(str(metrics.get("task")), metrics=metrics), metrics.get("n_test_patients"))
    if figures:             # a demo model's figure against its target (core.demo_quality)
        st.caption(figures)
    table = per_structure_frame(metrics)
    st.dataframe(table, hide_index=True, width="stretch")
    coco_section(metrics)
    runs = metrics.get("n_runs")
    st.caption("Per structure, the highest-confidence detection (confidence ≥ 0.3) of each test image: TP when "
               "it overlaps the true structure with IoU ≥ 0.5; AP at IoU 0.5"
               + (f"; mean over {runs} run(s) ({metrics.get('cv')})" if runs else "") + ".")
    st.download_button("Download per-structure CSV", table.to_csv(index=False), file_name="per_structure.csv",
                       mime="text/csv", key="instance_csv")
