"""Widgets and rendering of the Analyze page (the page script itself stays a few lines)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.case_report import case_report_html, contour_image, png_bytes
from core.errors import InputError
from dashboard import resources

UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "dcm", "dicom", "mp4", "avi"]
MODEL_NONE = "(no classifier)"


def choose_models(study: str) -> tuple[str | None, str | None]:
    """Model bundle and segmenter for the study (the study's default bundle preselected)."""
    table = resources.bundles(study)
    options = [MODEL_NONE] + list(table["path"]) if not table.empty else [MODEL_NONE]
    labels = {MODEL_NONE: MODEL_NONE}
    default_index = 0
    for i, row in enumerate(table.itertuples(), start=1):
        labels[row.path] = f"{row.name} ({row.arch})" + ("  ★ default" if row.is_default_for_task else "")
        if row.is_default_for_task:
            default_index = i
    model = st.selectbox("Model", options, index=default_index, format_func=labels.get, key=f"model_{study}")
    seg_options = ["levelset", "none"] if study == "miscarriage" else ["none", "levelset"]
    seg = st.selectbox("Segmentation", seg_options, key=f"seg_{study}",
                       help="Level set: the miscarriage study's classical pipeline. A multitask model "
                            "(preterm U-Net) segments by itself.")
    return (None if model == MODEL_NONE else model), (None if seg == "none" else seg)


def choose_inputs(study: str) -> list:
    """Uploaded files as (name, bytes), or the images of a showcase patient."""
    uploads = st.file_uploader("Images of one patient (PNG, JPEG, BMP, TIFF, DICOM, MP4/AVI cine)",
                               type=UPLOAD_TYPES, accept_multiple_files=True, key=f"upload_{study}")
    if uploads:
        return [(f.name, f.getvalue()) for f in uploads]
    cases = resources.showcase(study)
    if cases.empty:
        st.info("No showcase cases for this study; upload images.")
        return []
    patients = sorted(cases["patient_id"].astype(str).unique())
    patient = st.selectbox("…or a showcase patient", patients, key=f"showcase_{study}")
    rows = cases[cases["patient_id"].astype(str) == patient]
    if study == "miscarriage":
        first = rows.iloc[0]
        for key, col in (("crl_mm", "crl_mm"), ("fhr_bpm", "fhr_bpm")):
            if col in rows and pd.notna(first[col]):
                st.caption(f"showcase {col.replace('_', ' ')}: {first[col]:.1f}")
    return list(rows["image_path"])


def clinical_inputs() -> dict:
    """GA as weeks + days, CRL (mm), FHR (bpm)."""
    c1, c2, c3, c4 = st.columns(4)
    weeks = c1.number_input("GA weeks", min_value=4, max_value=42, step=1, key="ga_weeks")
    days = c2.number_input("GA days", min_value=0, max_value=6, step=1, key="ga_days")
    crl = c3.number_input("CRL (mm)", min_value=0.0, max_value=100.0, step=0.1, key="crl_mm")
    fhr = c4.number_input("FHR (bpm)", min_value=0.0, max_value=250.0, step=1.0, key="fhr_bpm")
    return {"ga_weeks": round(weeks + days / 7.0, 3), "crl_mm": crl, "fhr_bpm": fhr}


def run(inputs: list, clinical: dict, *, model: str | None, segmenter: str | None, cam: str | None, alpha: float):
    """analyze() with the cached model; bad input becomes one st.error line."""
    from core.pipeline import analyze

    try:
        predictor = resources.predictor(model) if model else None
        return analyze(inputs, clinical, model=predictor, segmenter=segmenter, cam=cam, cam_alpha=alpha,
                       faithfulness=cam is not None)
    except InputError as err:
        st.error(str(err))
    except Exception as err:  # noqa: BLE001 - a page never shows a traceback
        st.error(f"Analysis failed: {type(err).__name__}: {err}")
    return None


def _fmt(value) -> str:
    return "—" if value is None else ("yes" if value is True else "no" if value is False else str(value))


def rule_panel(rules: dict | None) -> None:
    st.markdown("**CRL / FHR rules** (DeVilbiss thresholds)")
    if not rules:
        st.write("Enter GA to apply the rules.")
        return
    if not rules.get("applicable"):
        st.warning("Rules not applicable (GA outside weeks 6–8 or a value missing).")
    c1, c2, c3 = st.columns(3)
    c1.metric("CRL small", _fmt(rules.get("crl_low")))
    c2.metric("FHR low", _fmt(rules.get("fhr_low")))
    c3.metric("Both (CRL+FHR)", _fmt(rules.get("both_low")))


def cnn_panel(analysis) -> None:
    st.markdown("**CNN (patient level)**")
    if analysis.probability is None:
        st.write("No classifier chosen.")
        return
    unc = analysis.uncertainty or {}
    c1, c2, c3 = st.columns(3)
    label = analysis.positive_label or analysis.predicted_class
    c1.metric(f"P({label})", f"{analysis.probability:.3f}",
              help=f"{analysis.aggregation} over {len(analysis.images)} image(s)/frame(s)")
    c2.metric("Uncertainty (SD)", f"{unc.get('sd', 0):.3f}", help=f"method: {unc.get('method', '—')}")
    c3.metric("Decision", analysis.predicted_class, help=f"operating threshold {analysis.threshold:.2f}")


def image_panels(analysis) -> None:
    for r in analysis.images:
        title = f"{r.name}" + (f" — frame {r.frame}" if r.kind == "video" else "")
        st.markdown(f"**{title}**")
        cols = st.columns(2)
        cols[0].image(contour_image(r), caption="segmentation contour" if r.mask is not None else "original",
                      width="stretch")
        if r.overlay is not None:
            road = f", ROAD {r.faithfulness:+.3f}" if r.faithfulness is not None else ""
            cols[1].image(r.overlay, caption=f"{analysis.cam_method} overlay{road}", width="stretch")
            st.download_button("Download overlay PNG", png_bytes(r.overlay), file_name=f"overlay-{r.frame}.png",
                               mime="image/png", key=f"dl_overlay_{id(r)}")
        if r.biometry:
            b = r.biometry
            mm = (f"circumference {b['circumference_mm']:.1f} mm, mean diameter {b['mean_diameter_mm']:.1f} mm"
                  if b.get("circumference_mm") is not None else "no pixel spacing: sizes in pixels only")
            st.caption(f"area {b['area_px']} px; {mm}")
        if r.probability is not None:
            st.caption(f"image probability {r.probability:.3f}")


def save_and_report(analysis, *, study: str, clinical: dict) -> None:
    st.markdown("**Clinician review**")
    options = list(analysis.class_names) or ["n/a"]
    index = options.index(analysis.predicted_class) if analysis.predicted_class in options else 0
    decision = st.radio("Decision", options, index=index, horizontal=True, key="decision")
    note = st.text_area("Note", key="case_note", max_chars=2000)
    c1, c2 = st.columns(2)
    if c1.button("Save case", type="primary"):
        from core import store

        case_id = store.save_case(study=study, probability=analysis.probability, decision=analysis.predicted_class,
                                  override=decision if decision != analysis.predicted_class else None, note=note,
                                  bundle_name=(analysis.model or {}).get("name"), rules=analysis.rules)
        st.success(f"Case saved (#{case_id}).")
    report = case_report_html(analysis, study=study, decision=decision, note=note, clinical=clinical)
    c2.download_button("Download report (HTML)", report, file_name="sonodash-case.html", mime="text/html")
