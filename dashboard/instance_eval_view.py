"""The Evaluations page's instance-segmentation section: per-structure tables and the COCO summary.

Why apart from :mod:`dashboard.evaluations_view`: instance metrics come from bundles and run folders (model.json,
metrics.json, per_structure.csv), not from a stored evaluation's per-case scores, so this section shares no
code with the ROC/PR views.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.demo import DEMO_MODELS
from core.demo_quality import figures_text, rate
from core.paths import sonodash_home
from dashboard.instance_view import is_instance_arch
from dashboard.resources import bundles


PAPER_LAYOUT = {"structure": "Structure", "TP": "TP", "FP": "FP", "FN": "FN", "TN": "TN", "accuracy": "Accuracy",
                "recall": "Recall", "precision": "Precision", "f1": "F1", "mask_ap50": "Mask AP",
                "box_ap50": "Box AP"}


def _read_json(path):
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _bundle_metrics(path: str, stored: dict | None) -> dict | None:
    """Per-structure metrics of a bundle: its model.json metrics, else its training run folder's
    metrics.json (the trainer keeps the table there, next to the bundle), else the run's per_structure.csv."""
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
