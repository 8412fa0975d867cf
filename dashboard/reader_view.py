"""Widgets of the reading page: image viewer (zoom, contrast, box selection), AI panel, answer form, case list,
and the visibility timer.

Why a JavaScript timer: the reading time must count only while the case is on screen. The server knows when
the case was first drawn in this tab; a tiny ``st.components.v2`` component adds up the time the page was
hidden (``visibilitychange``: another tab, a minimised window, a locked screen) and reports it when the page
becomes visible again, so the submitted time is drawn-to-submit minus hidden.
"""

from __future__ import annotations

import time

import numpy as np
import plotly.express as px
import streamlit as st

from core.reader_study import CaseItem, CaseRow, StudyView
from core.reader_study.session import visible_seconds
from core.reader_study.setup import ORDINAL_SCALE

_TIMER_JS = """
export default function(component) {
    const { setStateValue, data } = component;
    const all = (window.__sonodashHidden = window.__sonodashHidden || {});
    let st = all[data.key];
    if (!st) {
        st = { hidden: 0, since: document.visibilityState === "hidden" ? performance.now() : null, listener: null };
        all[data.key] = st;
    }
    if (st.listener) { document.removeEventListener("visibilitychange", st.listener); }
    st.listener = () => {
        if (document.visibilityState === "hidden") {
            if (st.since === null) { st.since = performance.now(); }
        } else if (st.since !== null) {
            st.hidden += performance.now() - st.since;
            st.since = null;
            setStateValue("hidden_ms", Math.round(st.hidden));
        }
    };
    document.addEventListener("visibilitychange", st.listener);
    return () => { if (st.listener) { document.removeEventListener("visibilitychange", st.listener); st.listener = null; } };
}
"""
_timer = st.components.v2.component("sonodash_visible_timer", js=_TIMER_JS)


def reading_clock(key: str):
    """Start (or continue) the visibility timer of case ``key``; returns a function giving the seconds the
    case has been visible in this tab so far (from its first drawing, minus the time the page was hidden)."""
    shown = st.session_state.setdefault(f"shown_{key}", time.time())
    result = _timer(key=f"timer_{key}", data={"key": key}, default={"hidden_ms": 0}, height=0,
                    on_hidden_ms_change=lambda: None)
    hidden = getattr(result, "hidden_ms", None) if result is not None else None
    return lambda: visible_seconds(shown, time.time(), hidden or 0)


def case_list(rows: list[CaseRow], phases: tuple, current: int) -> int | None:
    """The reader's case list (progress and flags only); returns a case number to go to, or None."""
    table = [{"case": r.number, "status": ("done" if len(r.done) == len(phases) else
                                           ("unaided done" if r.done else "to read")),
              "flag": "flagged" if r.flagged else "", "here": "◀" if r.number == current else ""}
             for r in rows]
    with st.expander(f"Case list — {sum(len(r.done) == len(phases) for r in rows)} of {len(rows)} done, "
                     f"{sum(r.flagged for r in rows)} flagged", expanded=False):
        st.dataframe(table, hide_index=True, width="stretch", height=min(400, 38 + 35 * len(table)))
        c1, c2 = st.columns([2, 1])
        target = c1.number_input("Go to case", 1, len(rows), current, key="goto_case")
        if c2.button("Go", key="goto_go"):
            return int(target)
    return None


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
    """The case's clinical values on one line (narrow screens truncate metric tiles)."""
    names = {"ga_weeks": ("GA", "weeks"), "crl_mm": ("CRL", "mm"), "fhr_bpm": ("FHR", "bpm")}
    if item.clinical:
        st.markdown(" · ".join(f"**{names.get(k, (k, ''))[0]}** {v:g} {names.get(k, ('', ''))[1]}".strip()
                               for k, v in item.clinical.items()))


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


def _confidence(study: StudyView, prev, key: str) -> float:
    """The confidence question that fits the task: binary (positive class), ordinal scale, or multi-class."""
    start = int(prev.confidence) if prev else 50
    if study.questions.get("ordinal"):
        choice = st.select_slider(f"Is this case {study.positive_label}?", ORDINAL_SCALE,
                                  value=ORDINAL_SCALE[min(4, round(start / 25))], key=f"ord_{key}")
        return 25.0 * ORDINAL_SCALE.index(choice)
    if study.questions.get("kind", "binary") == "binary":
        return st.slider(f"Confidence that this case is {study.positive_label} (0 = certainly not, 100 = certainly)",
                         0, 100, start, key=f"conf_{key}")
    return st.slider("Confidence in your answer (0 = a guess, 100 = certain)", 0, 100, start, key=f"conf_{key}")


def answer_form(study: StudyView, item: CaseItem, box: tuple | None, key: str) -> dict | None:
    """The questions; returns the answer when submitted."""
    prev = item.previous
    labels = list(study.labels)
    with st.form(f"answer_{key}"):
        question = "Diagnosis" if len(labels) == 2 else f"Which of the {len(labels)} classes is this case?"
        label = st.radio(question, labels, index=labels.index(prev.label) if prev else None, key=f"label_{key}",
                         horizontal=True)
        confidence = _confidence(study, prev, key)
        text = st.text_area("Comment (optional; no patient identifiers)", value=prev.free_text if prev else "",
                            key=f"text_{key}") if study.questions.get("free_text", True) else ""
        region_text = ""
        if study.questions.get("region", True):
            shown = ", ".join(f"{v:.0f}" for v in box) if box else ""
            region_text = st.text_input("Region x0, y0, x1, y1 (optional; filled by the box-select tool)",
                                        value=shown, key=f"region_{key}_{shown}")
        submitted = st.form_submit_button("Save answer" if prev is None else "Save changed answer (new version)",
                                          type="primary", disabled=not item.can_change)
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
