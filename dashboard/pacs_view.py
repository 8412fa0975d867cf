"""The PACS on the Analyze page: a third image source, results back as a DICOM SR, and the PDF report.

Why here and not in the page: the page script stays a few lines; this module owns the widgets and session
state of the PACS round trip. The source radio ("Upload / Showcase / PACS") appears only when
``SONODASH_DICOMWEB_URL`` is set ("Upload or showcase" / "PACS"). A search (patient ID, study date, accession) lists studies; "Retrieve"
brings one study's images in through the input gate and de-identification (core.pacs.retrieve_study,
all or nothing); the analysis then receives them as ``(name, bytes)`` pairs, exactly like an upload.
Sending results is opt-in per analysis (a button), to the study the site configured
(``SONODASH_DICOMWEB_SR_TARGET``, default the de-identified copy). Every failure is one ``st.error`` line.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from core.errors import InputError

SOURCES = ("Upload or showcase", "PACS")


def _actor() -> str | None:
    try:
        from dashboard.auth import current_user

        user = current_user()
    except Exception:  # noqa: BLE001 - no access module or no session: nobody
        return None
    return getattr(user, "username", None) if user is not None else None


def _audit(action: str, target: str = "", detail: dict | None = None) -> None:
    try:
        from core import audit
    except ImportError:
        return
    try:
        audit.record(_actor(), action, target=target, detail=detail)
    except Exception:  # noqa: BLE001 - an audit failure must not lose the clinician's work; it is logged there
        pass


def source(study: str) -> str:
    """The image source chosen: the radio is shown only when a PACS is configured."""
    from core.pacs import configured

    if not configured():
        return SOURCES[0]
    return st.radio("Image source", SOURCES, horizontal=True, key=f"image_source_{study}")


def choose_inputs(study: str) -> list:
    """Search the PACS, retrieve one study; returns its images as ``(name, bytes)`` (empty until retrieved)."""
    from core.pacs import PacsConfig, retrieve_study, search_studies

    try:
        config = PacsConfig.from_env()
    except InputError as err:
        st.error(str(err))
        return []
    st.caption(f"PACS: {config.shown_url} · results go to the "
               f"{'de-identified copy of the study' if config.sr_target == 'deidentified' else 'original study'}")
    with st.form(key=f"pacs_search_form_{study}"):
        c1, c2, c3 = st.columns(3)
        patient_id = c1.text_input("Patient ID", key="pacs_patient_id", max_chars=64)
        date = c2.text_input("Study date", key="pacs_study_date", max_chars=17,
                             placeholder="YYYY-MM-DD or YYYYMMDD-YYYYMMDD")
        accession = c3.text_input("Accession number", key="pacs_accession", max_chars=16)
        searched = st.form_submit_button("Search PACS")
    if searched:
        st.session_state.pop("pacs_search_error", None)
        try:
            studies, truncated = search_studies(config, patient_id=patient_id, study_date=date, accession=accession)
            st.session_state["pacs_studies"] = (studies, truncated)
        except InputError as err:
            st.session_state["pacs_studies"] = ([], False)
            st.session_state["pacs_search_error"] = str(err)
    if st.session_state.get("pacs_search_error"):
        st.error(st.session_state["pacs_search_error"])
    studies, truncated = st.session_state.get("pacs_studies") or ([], False)
    if not studies:
        if searched and not st.session_state.get("pacs_search_error"):
            st.info("No study matches.")
        return []
    if truncated:
        st.warning(f"More than {len(studies)} studies match; showing the newest {len(studies)}. Narrow the search.")
    by_uid = {s.study_uid: s for s in studies}
    uid = st.selectbox("PACS study", list(by_uid), format_func=lambda u: by_uid[u].label, key="pacs_study_uid")
    retrieved = st.session_state.get("pacs_retrieved")
    if st.button("Retrieve study", key="pacs_retrieve"):
        bar = st.progress(0.0, text="Retrieving…")
        st.session_state.pop("pacs_retrieve_error", None)
        try:
            retrieved = retrieve_study(uid, config, progress=lambda k, n: bar.progress(k / n, text=f"image {k} of {n}"))
            st.session_state["pacs_retrieved"] = retrieved
            _audit("pacs_retrieve", target=retrieved.key, detail={"images": len(retrieved.instances)})
        except InputError as err:
            st.session_state["pacs_retrieve_error"] = str(err)
            st.session_state.pop("pacs_retrieved", None)
            retrieved = None
        bar.empty()
    if st.session_state.get("pacs_retrieve_error"):
        st.error(st.session_state["pacs_retrieve_error"])
        return []
    if retrieved is None or retrieved.original_study_uid != uid:
        st.caption("Press Retrieve to bring this study's images in (de-identified on arrival).")
        return []
    skipped = f"; {retrieved.skipped} non-image object(s) skipped" if retrieved.skipped else ""
    st.success(f"{len(retrieved.instances)} image(s) retrieved and de-identified{skipped}.")
    try:
        return retrieved.inputs()
    except OSError:
        st.error("The retrieved images are no longer on disk; retrieve the study again.")
        return []


def _from_pacs(analysis):
    retrieved = st.session_state.get("pacs_retrieved")
    if retrieved is None or not analysis.images:
        return None
    return retrieved if all(retrieved.ref_for(r.name) for r in analysis.images) else None


def after_review(analysis, *, study: str, clinical: dict | None = None, key: str = "review", token=None) -> None:
    """Below the clinician review: the PDF report download and, for PACS images, "Send results to PACS".

    The clinician's decision and note are read from the review's widgets (``{key}_decision_{token}``,
    ``{key}_note_{token}``), so the PDF and the SR carry what the clinician chose.
    """
    decision = st.session_state.get(f"{key}_decision_{token}")
    note = st.session_state.get(f"{key}_note_{token}") or ""
    pdf_button(analysis, study=study, decision=decision, note=note, key=f"{key}_pdf_{token}")
    retrieved = _from_pacs(analysis)
    if retrieved is not None:
        send_panel(analysis, retrieved, study=study, decision=decision, key=f"{key}_sr_{token}")


def _model_meta(analysis):
    """The bundle's :class:`core.models.meta.BundleMeta` (with its registered name) of the model that made this
    analysis, for the card; None without one."""
    record = st.session_state.get("analysis_record") or {}
    path = record.get("model") if record.get("analysis") is analysis else None
    if not path:
        return None
    try:
        from dashboard import resources

        meta = resources.predictor(path).meta
        table = resources.bundles(analysis.task) if analysis.task else None
        if table is not None and not table.empty:
            names = table[table["path"].astype(str) == str(path)]["name"]
            if len(names):
                meta = replace(meta, name=str(names.iloc[0]))
        return meta
    except Exception:  # noqa: BLE001 - the card is a summary; without the bundle the analysis's own summary is used
        return None


def pdf_button(analysis, *, study: str, decision: str | None, note: str, key: str) -> None:
    from core.report_pdf import case_report_pdf
    from core.tasks import get_task

    try:
        pdf = case_report_pdf(analysis, task=get_task(study), decision=decision, note=note,
                              model_meta=_model_meta(analysis))
    except Exception as err:  # noqa: BLE001 - a report failure must not take the page down
        st.error(f"PDF report failed: {type(err).__name__}")
        return
    if st.download_button("Download report (PDF)", pdf, file_name="sonodash-case.pdf", mime="application/pdf",
                          key=key):
        _audit("export_pdf_report", target=study)


def send_panel(analysis, retrieved, *, study: str, decision: str | None, key: str) -> None:
    """Opt-in: store this analysis as a DICOM SR (TID 1500) in the PACS."""
    from core.pacs import PacsConfig
    from core.pacs.sr import send_results
    from core.tasks import get_task

    config = PacsConfig.from_env()
    if config is None:
        return
    where = "the de-identified copy of the study" if config.sr_target == "deidentified" else "the original study"
    st.markdown("**PACS**")
    with_seg = st.checkbox("Also send the segmentation (DICOM SEG)", key=f"{key}_seg",
                           disabled=not any(r.mask is not None for r in analysis.images))
    if st.button("Send results to PACS (DICOM SR)", key=key,
                 help=f"Stores a TID 1500 measurement report in {where}: biometry, the model's probability and "
                      f"decision, your decision and whether it overrides the model. Your note is not sent."):
        try:
            sent = send_results(analysis, retrieved, config, task=get_task(study), clinician_decision=decision,
                                include_segmentation=with_seg, observer=_actor())
            segs = f" and {len(sent['seg_sop_uids'])} segmentation(s)" if sent["seg_sop_uids"] else ""
            st.session_state[f"{key}_sent"] = (f"Structured report{segs} stored in {where} "
                                              f"(SR instance {sent['sop_uid']}).")
            _audit("pacs_send_sr", target=retrieved.key, detail={"target": sent["target"]})
        except InputError as err:
            st.session_state[f"{key}_sent"] = None
            st.error(str(err))
    if st.session_state.get(f"{key}_sent"):
        st.success(st.session_state[f"{key}_sent"])
