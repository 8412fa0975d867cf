"""The Cases page: saved clinician cases (who decided what, when, with which corrections) and the export.

Why a page: a saved case that cannot be found again is lost work. The table shows per case the pseudonymous
key, the study, what the AI said (or that it withheld its decision), the clinician's decision, the
corrections, who saved it and when; one case opens with its images (AI contour orange, corrected contour
green, calipers cyan) and measurements. The export is the training manifest of :mod:`core.cases_export`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import InputError

ALL = "(all studies)"


def _label(value) -> str:
    return "—" if value in (None, "") else str(value).replace("_", " ")


def _ai_text(row) -> str:
    ai = row["ai_output"] or {}
    decided = row["decision"] or ai.get("predicted_class")
    p = row["probability"]
    if ai.get("decision_withheld"):
        return "withheld (out of distribution)" + (f", P {p:.3f}" if p is not None and not pd.isna(p) else "")
    if decided is None:
        return "—"
    return _label(decided) + (f" (P {p:.3f})" if p is not None and not pd.isna(p) else "")


def table(cases: pd.DataFrame) -> pd.DataFrame:
    """What the list shows, one row per case, newest first."""
    rows = []
    for _, r in cases.iterrows():
        images = r["images"] or []
        corrected = sum(1 for i in images if i.get("corrected"))
        rows.append({"case": int(r["id"]),
                     "saved (UTC)": r["created"].strftime("%Y-%m-%d %H:%M") if r["created"] is not None else "—",
                     "saved by": r["actor"] or "—", "patient": r["case_key"] or f"case-{int(r['id'])}",
                     "study": _label(r["study"]), "AI output": _ai_text(r),
                     "clinician decision": _label(r["clinician_decision"] or r["override"]),
                     "override": "yes" if (r["clinician_decision"] and r["decision"]
                                           and r["clinician_decision"] != r["decision"]) else "",
                     "corrections": ", ".join(x for x in (f"{corrected} contour(s)" if corrected else "",
                                                          f"{len(r['calipers'])} caliper(s)" if r["calipers"] else "")
                                              if x) or "—"})
    return pd.DataFrame(rows)


def _read_png(path: str | None, *, mask: bool = False):
    import cv2

    if not path:
        return None
    arr = cv2.imread(path, cv2.IMREAD_GRAYSCALE if mask else cv2.IMREAD_COLOR)
    if arr is None:
        return None
    return arr > 0 if mask else cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def _caliper_text(c: dict) -> str:
    if c["kind"] == "distance":
        return f"length {c['length_mm']:.1f} mm" if c.get("length_mm") is not None else \
            f"length {c['length_px']:.1f} px (no pixel spacing)"
    if c.get("major_mm") is None:
        return f"ellipse, circumference {c['circumference_px']:.1f} px (no pixel spacing)"
    return (f"ellipse {c['major_mm']:.1f} × {c['minor_mm']:.1f} mm, circumference {c['circumference_mm']:.1f} mm, "
            f"area {c['area_mm2']:.0f} mm²")


def detail(case_id: int) -> None:
    """One saved case: images with the AI and corrected contours and the calipers, measurements, note."""
    from core.corrections import draw_corrections
    from core.store.cases import get_case

    try:
        case = get_case(case_id)
    except InputError as err:
        st.error(str(err))
        return
    st.markdown(f"**Case #{case['id']}** — {case['case_key'] or 'no case key'} · {_label(case['study'])} · "
                f"clinician decision: **{_label(case['clinician_decision'] or case['override'])}**")
    if case["note"]:
        st.markdown(f"Note: {case['note']}")
    calipers = case["calipers"] or []
    for k, rec in enumerate(case["images"] or []):
        image = _read_png(rec.get("image_file"))
        if image is None:
            st.warning(f"{rec.get('name')}: the saved image file is missing")
            continue
        mask, ai_mask = _read_png(rec.get("mask_file"), mask=True), _read_png(rec.get("ai_mask_file"), mask=True)
        mine = [c for c in calipers if int(c.get("image", 0)) == k]
        drawn = draw_corrections(image, mask=mask if rec.get("corrected") else None, ai_mask=ai_mask,
                                 vertices=rec.get("vertices") if rec.get("corrected") else None, calipers=mine)
        c1, c2 = st.columns([3, 2])
        title = rec.get("name") + (f" · frame {rec['frame']}" if rec.get("frame") else "")
        c1.image(drawn, width="stretch", caption=f"{title} — orange: AI contour · green: corrected · cyan: calipers")
        with c2:
            b = rec.get("biometry") or {}
            state = "corrected by the clinician" if rec.get("corrected") else "AI contour (not corrected)"
            st.markdown(f"**Contour**: {state}")
            if b:
                mm = (f"circumference {b['circumference_mm']:.1f} mm, mean diameter {b['mean_diameter_mm']:.1f} mm"
                      if b.get("circumference_mm") is not None else "no pixel spacing: pixels only")
                st.markdown(f"area {b.get('area_px')} px; {mm}")
            for n, c in enumerate(mine, start=1):
                st.markdown(f"C{n}: {_caliper_text(c)}")


def export_panel(study: str | None, n_cases: int) -> None:
    """The training-manifest export (zip: manifest.csv, images/, masks/)."""
    from core.cases_export import export_zip_bytes

    st.markdown("**Export as a training set**")
    st.caption("manifest.csv (image_path, patient_id, label = clinician decision, mask_path = corrected mask) "
               "with the de-identified images and masks; `python -m core train --manifest manifest.csv` reads it.")
    if st.button(f"Prepare export of {n_cases} case(s)", key="cases_prepare_export"):
        try:
            data, result = export_zip_bytes(study=study, actor=_actor())
        except InputError as err:
            st.error(str(err))
            return
        st.session_state.cases_export = (data, result, study)
    ready = st.session_state.get("cases_export")
    if ready and ready[2] == study:
        data, result, _ = ready
        st.download_button(f"Download dataset zip ({result['n_images']} image(s), {result['n_corrected']} corrected)",
                           data, file_name="sonodash-cases.zip", mime="application/zip", key="cases_download")
        if result["skipped"]:
            st.caption(f"Skipped (no saved image): case {', '.join(map(str, result['skipped']))}")


def _actor():
    from dashboard.review_view import _actor as actor

    return actor()


def study_filter(cases: pd.DataFrame) -> str | None:
    studies = sorted({str(s) for s in cases["study"]})
    choice = st.selectbox("Study", [ALL] + studies, key="cases_study", format_func=_label)
    return None if choice == ALL else choice


def show_table(shown: pd.DataFrame) -> int | None:
    """The list; returns the case id the user picked (the newest by default)."""
    st.dataframe(shown, hide_index=True, width="stretch",
                 column_config={"case": st.column_config.NumberColumn("case", format="#%d")})
    ids = [int(i) for i in shown["case"]]
    return st.selectbox("Open case", ids, format_func=lambda i: f"#{i} — " + str(
        shown.loc[shown["case"] == i, "patient"].iloc[0]), key="cases_open") if ids else None


def empty_hint() -> None:
    st.info("No saved cases yet. Analyze a patient, review the result and press **Save case**.")

