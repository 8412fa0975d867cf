"""Widgets of the Analyze page and the rule "a result is the result of what is on screen".

Why a fingerprint: Streamlit keeps whatever was put into session state, so a result drawn once would stay on
screen after the user switched study, removed an upload or changed a value. Every input that changes the
answer (study, the images' bytes or paths, clinical values, pixel spacing, model, segmenter, CAM method) is
hashed; the stored result is drawn only while its fingerprint equals the fingerprint of the inputs on screen,
else the page says "out of date — press Analyze" (same study) or shows nothing (another study).

Everything study-specific is read from the task (core.tasks): whether CRL/FHR and the rules apply
(``uses_rules``), the preselected segmenter (``default_segmenter``), the label set.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import streamlit as st

from core.errors import InputError
from core.tasks import get_task, list_tasks
from dashboard import resources
from dashboard.state import CLINICAL_DEFAULTS, keep, kept, kept_key, new_generation, remember, sticky, widget_key

UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "dcm", "dicom", "mp4", "avi"]
MODEL_NONE = "(no classifier)"
SEGMENTERS = ("levelset", "none")
UPLOADED = "(uploaded images)"
STALE = "Result out of date — press Analyze (the images, values or model changed since)."


def study_options() -> list[str]:
    """The tasks of core.tasks that a clinician can analyse: studies with a label set or structures, and any
    generic task that has a registered model."""
    out = []
    for name in list_tasks():
        task = get_task(name)
        if task.labels or task.structures or not resources.bundles(name).empty:
            out.append(name)
    return out


def choose_models(study: str) -> tuple[str | None, str | None]:
    """Model bundle and segmenter for the study (the study's default bundle and segmenter preselected)."""
    table = resources.bundles(study)
    options = [MODEL_NONE] + list(table["path"]) if not table.empty else [MODEL_NONE]
    labels = {MODEL_NONE: MODEL_NONE}
    default_index = 0
    for i, row in enumerate(table.itertuples(), start=1):
        labels[row.path] = f"{row.name} ({row.arch})" + ("  ★ default" if row.is_default_for_task else "")
        if row.is_default_for_task:
            default_index = i
    key = f"model_{study}"
    model = remember(key, st.selectbox("Model", options, index=sticky(key, options, options[default_index]),
                                       format_func=labels.get, key=key))
    default_seg = get_task(study).default_segmenter or "none"
    seg_options = [default_seg] + [s for s in SEGMENTERS if s != default_seg]
    key = f"seg_{study}"
    seg = remember(key, st.selectbox("Segmentation", seg_options, index=sticky(key, seg_options), key=key,
                                     help="Level set: the classical sac pipeline (no training). A multitask "
                                          "model segments by itself when this is 'none'."))
    return (None if model == MODEL_NONE else model), (None if seg == "none" else seg)


def _showcase_values(rows: pd.DataFrame) -> dict:
    """GA (weeks + days), CRL, FHR and pixel spacing of a showcase patient's manifest rows (first row;
    DESIGN.md: patient metadata agrees within a patient)."""
    first = rows.iloc[0]
    values = {}
    if "ga_weeks" in rows and pd.notna(first["ga_weeks"]):
        days = int(round(float(first["ga_weeks"]) * 7))
        values["ga_weeks"], values["ga_days"] = days // 7, days % 7
    for name, col in (("crl_mm", "crl_mm"), ("fhr_bpm", "fhr_bpm"), ("spacing_mm", "pixel_spacing_mm")):
        if col in rows and pd.notna(first[col]):
            values[name] = float(first[col])
    return values


def choose_inputs(study: str) -> tuple[list, dict | None]:
    """(inputs, showcase) — uploaded files as (name, bytes), or a showcase patient's image paths with
    ``showcase = {"patient", "values"}`` (its manifest values)."""
    from dashboard import pacs_view      # third source "PACS", offered only when SONODASH_DICOMWEB_URL is set
    if pacs_view.source(study) == "PACS":
        return pacs_view.choose_inputs(study), None
    uploads = st.file_uploader("Images of one patient (PNG, JPEG, BMP, TIFF, DICOM, MP4/AVI cine)",
                               type=UPLOAD_TYPES, accept_multiple_files=True, key=f"upload_{study}")
    if uploads:
        return [(f.name, f.getvalue()) for f in uploads], None
    cases = resources.showcase(study)
    if cases.empty:
        st.info("No showcase cases for this study; upload images.")
        return [], None
    patients = sorted(cases["patient_id"].astype(str).unique())
    key = f"showcase_{study}"
    patient = remember(key, st.selectbox("…or a showcase patient", patients, index=sticky(key, patients), key=key))
    rows = cases[cases["patient_id"].astype(str) == patient]
    return list(rows["image_path"]), {"patient": patient, "values": _showcase_values(rows)}


def clinical_inputs(study: str, showcase: dict | None) -> dict:
    """GA (weeks + days), and CRL/FHR where the task uses the rules, and the pixel spacing.

    A newly chosen showcase patient fills them from its manifest, an upload starts from the defaults with
    CRL/FHR/spacing not measured; what the user types afterwards is kept for this study (state.py) until
    another patient (or an upload instead of a showcase patient) is chosen.
    """
    task = get_task(study)
    source = showcase["patient"] if showcase is not None else UPLOADED
    if st.session_state.get(kept_key(study, "patient")) != source:
        # Another patient: its manifest values, or for the user's own upload the defaults with CRL, FHR and
        # pixel spacing "not measured" -- a showcase patient's values never carry over to another patient.
        st.session_state[kept_key(study, "patient")] = source
        values = dict(CLINICAL_DEFAULTS, crl_mm=0.0, fhr_bpm=0.0) if showcase is None else showcase["values"]
        for name, value in values.items():
            keep(study, name, value)
        new_generation(study)
    names = ["ga_weeks", "ga_days"] + (["crl_mm", "fhr_bpm"] if task.uses_rules else []) + ["spacing_mm"]
    cols = st.columns(len(names))
    widgets = {
        "ga_weeks": lambda c, k, v: c.number_input("GA weeks", min_value=4, max_value=42, step=1, value=int(v),
                                                   key=k),
        "ga_days": lambda c, k, v: c.number_input("GA days", min_value=0, max_value=6, step=1, value=int(v), key=k),
        "crl_mm": lambda c, k, v: c.number_input("CRL (mm)", min_value=0.0, max_value=100.0, step=0.1,
                                                 value=float(v), key=k, help="0 = not measured"),
        "fhr_bpm": lambda c, k, v: c.number_input("FHR (bpm)", min_value=0.0, max_value=250.0, step=1.0,
                                                  value=float(v), key=k, help="0 = not measured"),
        "spacing_mm": lambda c, k, v: c.number_input("mm / pixel", min_value=0.0, max_value=5.0, step=0.001,
                                                     value=float(v), format="%.4f", key=k,
                                                     help="Pixel spacing for images that carry none (PNG, JPEG); "
                                                          "a DICOM's own calibration wins. 0 = unknown."),
    }
    for col, name in zip(cols, names):
        keep(study, name, widgets[name](col, widget_key(study, name), kept(study, name)))
    weeks, days = int(kept(study, "ga_weeks")), int(kept(study, "ga_days"))
    out = {"ga_weeks": round(weeks + days / 7.0, 4), "ga_text": f"{weeks}w{days}d"}
    if task.uses_rules:
        out["crl_mm"] = float(kept(study, "crl_mm")) or None
        out["fhr_bpm"] = float(kept(study, "fhr_bpm")) or None
    out["pixel_spacing_mm"] = float(kept(study, "spacing_mm")) or None
    return out


def fingerprint(study: str, inputs: list, **choices) -> str:
    """A hash of everything that changes the answer (uploads by content, showcase images by path)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([study, choices], sort_keys=True, default=str).encode())
    for item in inputs:
        if isinstance(item, tuple):
            h.update(str(item[0]).encode())
            h.update(hashlib.blake2b(item[1], digest_size=16).digest())
        else:
            h.update(str(item).encode())
    return h.hexdigest()


def run(inputs: list, clinical: dict, *, study: str, model: str | None, segmenter: str | None, cam: str | None,
        alpha: float, frames=None):
    """analyze() with the cached model (``frames``: the viewer's frame choice, see core.pipeline.analyze);
    a bad file among good ones is listed in ``analysis.errors``; nothing
    readable becomes one st.error line. The ROAD faithfulness score is left for later (a button)."""
    from core.pipeline import analyze

    try:
        predictor = resources.predictor(model) if model else None
        return analyze(inputs, {k: clinical.get(k) for k in ("ga_weeks", "crl_mm", "fhr_bpm")},
                       model=predictor, segmenter=segmenter, cam=cam, cam_alpha=alpha, faithfulness=False,
                       spacing_mm=clinical.get("pixel_spacing_mm"), on_error="skip",
                       rules=get_task(study).uses_rules, task=study, frames=frames)
    except InputError as err:
        st.error(str(err))
    except Exception as err:  # noqa: BLE001 - a page never shows a traceback
        st.error(f"Analysis failed: {type(err).__name__}: {err}")
    return None


def record(study: str, fp: str, analysis, clinical: dict, model: str | None) -> None:
    """Keep the click's result with its fingerprint, and one audit row (DESIGN.md section 6: every analysis;
    no file names or values in it, only the study, the model and counts)."""
    st.session_state.analysis_record = {"fingerprint": fp, "study": study, "analysis": analysis,
                                        "clinical": dict(clinical), "model": model}
    if analysis is None:
        return
    from core import audit
    from dashboard.auth import current_user

    account = current_user()
    try:
        audit.record(getattr(account, "username", None), "analysis.run", f"study:{study}",
                     {"model": model, "images": len(analysis.images),
                      "unreadable": len(analysis.errors), "decision_withheld": analysis.decision_withheld})
    except Exception:  # noqa: BLE001 - an audit failure must not take the result away; the store logs it
        pass


def current(study: str, fp: str):
    """The stored analysis when it is the analysis of what is on screen; else None (with the out-of-date
    notice when it belongs to this study)."""
    rec = st.session_state.get("analysis_record")
    analysis = None
    if rec and rec["analysis"] is not None and rec["fingerprint"] == fp:
        analysis = rec["analysis"]
    elif rec and rec["study"] == study and rec["analysis"] is not None:
        st.warning(STALE)
    st.session_state.analysis = analysis
    return analysis
