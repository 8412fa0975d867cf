"""Widgets of the reading page: image viewer (zoom, contrast, box selection), AI panel, answer form."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import streamlit as st

from core.reader_study import CaseItem, StudyView


def _contrast(image: np.ndarray, contrast: float, brightness: float) -> np.ndarray:
    out = (image.astype(np.float32) - 127.5) * contrast + 127.5 + brightness
    return np.clip(out, 0, 255).astype(np.uint8)


def viewer(item: CaseItem, key: str) -> tuple | None:
    """Images with zoom (plotly) and a contrast slider; returns a box (x0, y0, x1, y1) drawn on the first image."""
    c1, c2 = st.columns(2)
    contrast = c1.slider("Contrast", 0.5, 3.0, 1.0, 0.1, key=f"contrast_{key}")
    brightness = c2.slider("Brightness", -100, 100, 0, 5, key=f"bright_{key}")
    box = None
    for k, image in enumerate(item.images):
        fig = px.imshow(_contrast(image, contrast, brightness))
        fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), height=420, dragmode="zoom")
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False)
        if k == 0:
            event = st.plotly_chart(fig, key=f"img_{key}_{k}", on_select="rerun", selection_mode="box",
                                    config={"displaylogo": False})
            box = _box(event)
        else:
            st.plotly_chart(fig, key=f"img_{key}_{k}", config={"displaylogo": False})
    st.caption("Scroll or drag to zoom; double-click to reset. Use the box-select tool to mark a region.")
    return box


def _box(event) -> tuple | None:
    try:
        boxes = event["selection"]["box"]
    except (KeyError, TypeError):
        return None
    if not boxes:
        return None
    b = boxes[-1]
    xs, ys = b.get("x") or [], b.get("y") or []
    if len(xs) < 2 or len(ys) < 2:
        return None
    return (min(xs), min(ys), max(xs), max(ys))


def clinical(item: CaseItem) -> None:
    names = {"ga_weeks": "GA (weeks)", "crl_mm": "CRL (mm)", "fhr_bpm": "FHR (bpm)"}
    if item.clinical:
        cols = st.columns(len(item.clinical))
        for col, (k, v) in zip(cols, item.clinical.items()):
            col.metric(names.get(k, k), f"{v:g}")


def ai_panel(item: CaseItem) -> None:
    """The AI output of the aided phase: probability, Grad-CAM overlay, rule flags."""
    ai = item.ai
    st.markdown("#### AI assistance")
    if ai.probability is None:
        st.warning("The AI gave no output for this case: " + "; ".join(ai.warnings))
        return
    st.metric(f"AI probability of {ai.positive_label}", f"{ai.probability:.2f}",
              help=f"AI decision: {ai.predicted_class}")
    if ai.overlay is not None:
        st.image(ai.overlay, caption="Grad-CAM overlay (first image)", width="stretch")
    if ai.rules:
        fmt = {True: "yes", False: "no", None: "—"}
        st.write("CRL / FHR rules: " + ", ".join(f"{k.replace('_', ' ')}: {fmt.get(ai.rules.get(k), ai.rules.get(k))}"
                                                 for k in ("applicable", "crl_low", "fhr_low", "both_low")))


def answer_form(study: StudyView, item: CaseItem, box: tuple | None, key: str) -> dict | None:
    """The questions; returns the answer when submitted."""
    prev = item.previous
    labels = list(study.labels)
    with st.form(f"answer_{key}"):
        label = st.radio("Diagnosis", labels, index=labels.index(prev.label) if prev else None, key=f"label_{key}",
                         horizontal=True)
        confidence = st.slider(f"Confidence that this case is {study.positive_label} (0 = certainly not, "
                               "100 = certainly)", 0, 100, int(prev.confidence) if prev else 50, key=f"conf_{key}")
        text = st.text_area("Comment (optional; no patient identifiers)", value=prev.free_text if prev else "",
                            key=f"text_{key}") if study.questions.get("free_text", True) else ""
        region_text = ""
        if study.questions.get("region", True):
            shown = ", ".join(f"{v:.0f}" for v in box) if box else ""
            region_text = st.text_input("Region x0, y0, x1, y1 (optional; filled by the box-select tool)",
                                        value=shown, key=f"region_{key}_{shown}")
        submitted = st.form_submit_button("Save answer", type="primary", disabled=not item.can_change)
    if not submitted:
        return None
    if label is None:
        st.error("Choose a diagnosis.")
        return None
    region = None
    if region_text.strip():
        try:
            region = tuple(float(v) for v in region_text.replace(";", ",").split(","))
        except ValueError:
            st.error(f"Region {region_text!r}: give four numbers x0, y0, x1, y1.")
            return None
    return {"label": label, "confidence": confidence, "free_text": text, "region": region}
