"""Clinician review on the Analyze page: decision, corrections (contour, calipers), note, save, report.

Why corrections are kept: a corrected contour is the best training label there is, and a caliper is how a
clinician checks a measurement. The contour is edited as polygon vertices (a table prefilled with the AI
contour's vertices, or a polygon redrawn on the image), the calipers as end points / ellipse parameters
(a table, or drawn on the image); :mod:`core.corrections` turns both into a mask and millimetres, and
:func:`core.store.save_case` keeps them with the case. The same review serves classification analyses
(:func:`items_from_analysis`) and instance analyses (:func:`items_from_instances`).

Out of distribution: no decision is preselected (the radio starts empty) and saving needs the clinician's
own choice -- the AI's withheld decision is never saved as if it had been made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import InputError
from dashboard import corrections_view as corr


@dataclass
class ReviewImage:
    """One image (or frame) the clinician may correct."""

    name: str
    frame: int
    image: np.ndarray
    ai_mask: np.ndarray | None
    pixel_spacing_mm: object = None


def items_from_analysis(analysis) -> list[ReviewImage]:
    return [ReviewImage(r.name, int(r.frame), r.image, r.mask, r.pixel_spacing_mm) for r in analysis.images]


def items_from_instances(results, spacing_mm=None) -> list[ReviewImage]:
    """Instance results: the clinician may draw a structure's contour and place calipers (no AI mask)."""
    return [ReviewImage(r.name, int(r.frame), r.image, None, spacing_mm) for r in results]


def _actor() -> str | None:
    """The signed-in user's name where the access module provides one."""
    try:
        from dashboard import auth
    except ImportError:
        return None
    for attr in ("current_username", "current_user_name", "current_user"):
        fn = getattr(auth, attr, None)
        if callable(fn):
            try:
                user = fn()
            except Exception:  # noqa: BLE001 - no session (tests, demo): nobody
                return None
            return getattr(user, "username", None) or (user.get("username") if isinstance(user, dict) else user)
    return None


def review(*, study: str, items: list[ReviewImage], options: list, ai_decision: str | None, withheld: bool,
           withheld_reason: str = "", ai_output: dict | None = None, probability: float | None = None,
           bundle_name: str | None = None, rules: dict | None = None, report=None, case_key: str = "",
           token=None, key: str = "review", per_image: list | None = None) -> None:
    """The whole review block. ``report(decision, note) -> html`` builds the downloadable report.

    ``token`` identifies the analysis on screen: a new analysis starts a fresh set of corrections.
    ``per_image`` (instance studies: one view per image): the AI's label of each item; the clinician then
    decides per image in a table instead of once per patient.
    """
    st.markdown("**Clinician review**")
    if withheld:
        st.warning("No AI decision: " + (withheld_reason or "the image looks unlike the model's training data")
                   + ". Choose the decision yourself.")
    options = [str(o) for o in options] or ["n/a"]
    labels = None
    if per_image is not None:
        labels = _per_image_labels(items, per_image, options, withheld=withheld, key=f"{key}_labels_{token}")
        decision = None if any(v is None for v in labels) else ", ".join(dict.fromkeys(labels))[:200]
        ai_decision = None if withheld else ", ".join(dict.fromkeys(v for v in per_image if v))[:200] or None
    else:
        index = None if withheld or ai_decision not in options else options.index(ai_decision)
        decision = st.radio("Clinician decision", options, index=index, horizontal=True,
                            key=f"{key}_decision_{token}", format_func=lambda s: s.replace("_", " "))
    corrections = corr.corrections(items, token=token, key=f"{key}_corr") if items else {"images": [],
                                                                                         "calipers": []}
    if labels is not None:
        for rec, label in zip(corrections["images"], labels):
            rec["label"] = label
    c1, c2 = st.columns([1, 2])
    case_key = c1.text_input("Case key (pseudonym)", value=case_key, max_chars=200, key=f"{key}_case_key_{token}",
                             help="A study code of your choosing. Never a name, birth date or hospital number.")
    note = c2.text_area("Note", key=f"{key}_note_{token}", max_chars=2000, height=80,
                        placeholder="No names, dates of birth or hospital numbers")
    b1, b2 = st.columns(2)
    # What would be saved; saving the same thing twice would only make a duplicate case.
    content = repr((token, decision, labels, note, case_key.strip(), [(i["corrected"], i["vertices"]) for i in
                                                               corrections["images"]], corrections["calipers"]))
    saved = st.session_state.get(f"{key}_saved")
    same = bool(saved) and saved[0] == content
    reason = "Choose a decision first" if decision is None else "Already saved; change something to save again" \
        if same else None
    if b1.button("Save case", type="primary", key=f"{key}_save_{token}", disabled=reason is not None, help=reason):
        _save(study=study, decision=decision, ai_decision=None if withheld else ai_decision, note=note,
              case_key=case_key, corrections=corrections, ai_output=ai_output, probability=probability,
              bundle_name=bundle_name, rules=rules, key=key, content=content, token=token)
        if st.session_state.get(f"{key}_saved") is not saved:
            st.rerun()                           # redraw: the button now says it is saved
    if saved and saved[1] == token:
        st.success(saved[2])
    if report is not None:
        try:
            html = report(decision, note, corrections)
        except TypeError:
            html = report(decision, note)
        b2.download_button("Download report (HTML)", html, file_name="sonodash-case.html", mime="text/html",
                           key=f"{key}_report_{token}")


def _per_image_labels(items, ai_labels, options, *, withheld: bool, key: str) -> list:
    """One clinician label per image (the AI's preselected unless withheld); None where none is chosen."""
    rows = pd.DataFrame({"image": [f"{it.name} · frame {it.frame}" if it.frame else it.name for it in items],
                         "AI": [(v or "—") for v in ai_labels],
                         "clinician": [None if withheld else v for v in ai_labels]})
    st.markdown("Clinician decision per image (view category)")
    table = st.data_editor(rows, key=key, hide_index=True, width="stretch", disabled=["image", "AI"],
                           column_config={"clinician": st.column_config.SelectboxColumn(
                               "clinician", options=options, required=True)})
    return [v if isinstance(v, str) and v in options else None for v in table["clinician"]]


def _save(*, study, decision, ai_decision, note, case_key, corrections, ai_output, probability, bundle_name,
          rules, key, content, token) -> None:
    from core import store

    try:
        case_id = store.save_case(study=study, probability=probability, decision=ai_decision,
                                  clinician_decision=decision, note=note, case_key=case_key.strip() or None,
                                  actor=_actor(), ai_output=ai_output, bundle_name=bundle_name, rules=rules,
                                  images=corrections["images"], calipers=corrections["calipers"])
    except InputError as err:
        st.error(f"Case not saved: {err}")
        return
    n_corr = sum(1 for i in corrections["images"] if i["corrected"])
    message = (f"Case #{case_id} saved" + (f" with {n_corr} corrected contour(s)" if n_corr else "")
               + (f" and {len(corrections['calipers'])} caliper(s)" if corrections["calipers"] else "")
               + " — listed on the Cases page.")
    st.session_state[f"{key}_saved"] = (content, token, message)


def ai_output_of(analysis) -> dict:
    """What the AI said, as stored with the case (no images, no identifiers)."""
    return {"predicted_class": analysis.predicted_class, "decision": analysis.decision,
            "probability": analysis.probability, "probabilities": analysis.probabilities,
            "threshold": analysis.threshold, "decision_withheld": bool(getattr(analysis, "decision_withheld", False)),
            "ood": getattr(analysis, "ood", None), "model": analysis.model, "segmenter": analysis.segmenter,
            "frames": [{"file": r.name, "frame": int(r.frame)} for r in analysis.images]}


def review_analysis(analysis, *, study: str, clinical: dict | None = None, case_key: str = "") -> None:
    """The review of a classification / segmentation :class:`core.pipeline.Analysis`."""
    from core.case_report import case_report_html

    withheld = bool(getattr(analysis, "decision_withheld", False))
    reason = (getattr(analysis, "ood", None) or {}).get("reason") or ""
    options = list(analysis.class_names)
    if not options:
        from core.tasks import get_task

        try:
            options = list(get_task(study).labels)
        except (InputError, KeyError, ValueError):
            options = []

    def report(decision, note, corrections=None):
        return case_report_html(analysis, study=study, decision=decision, note=note, clinical=clinical)

    review(study=study, items=items_from_analysis(analysis), options=options,
           ai_decision=None if withheld else analysis.predicted_class, withheld=withheld, withheld_reason=reason,
           ai_output=ai_output_of(analysis), probability=analysis.probability,
           bundle_name=(analysis.model or {}).get("name"), rules=analysis.rules, report=report,
           case_key=case_key, token=id(analysis), key="review")
    from dashboard import pacs_view      # PDF report; for PACS images, results back as a DICOM SR
    pacs_view.after_review(analysis, study=study, clinical=clinical, key="review", token=id(analysis))


def review_instances(results, *, study: str, views, withheld: bool = False, reason: str = "",
                     case_key: str = "", model_name: str | None = None) -> None:
    """The review of instance (first-trimester) results: the view category is the decision."""
    votes = pd.Series([r.checklist.get("view") for r in results if r.checklist.get("view")])
    ai_view = votes.mode().iloc[0] if len(votes) else None
    ai_output = {"predicted_class": ai_view, "decision_withheld": withheld,
                 "images": [{"file": r.name, "frame": int(r.frame), "view": r.checklist.get("view"),
                             "found": r.checklist.get("found"), "missing": r.checklist.get("missing"),
                             "detections": len(r.instances), "ood": getattr(r, "ood", None)} for r in results]}
    def report(decision, note, corrections=None):
        from core.case_report import instance_report_html
        from dashboard.instance_view import draw_instances, structure_colors

        names = sorted({n for r in results for n in r.instances.names})
        colors = structure_colors(names)
        figures = [(f"{r.name}{f' (frame {r.frame})' if r.frame else ''}: detected structures",
                    draw_instances(r.image, r.instances, shown=names, colors=colors)) for r in results]
        return instance_report_html(results, study=study, decision=decision, note=note, figures=figures,
                                    model_name=model_name)

    review(study=study, items=items_from_instances(results), options=list(views), ai_decision=ai_view,
           withheld=withheld, withheld_reason=reason, ai_output=ai_output, token=id(results), key="review_instances",
           case_key=case_key, per_image=[r.checklist.get("view") for r in results], report=report)


def _showcase_key(study: str) -> str:
    """The showcase patient's synthetic id when the images on screen are a showcase patient's (no upload)."""
    if st.session_state.get(f"upload_{study}"):
        return ""
    return str(st.session_state.get(f"showcase_{study}") or "")


def review_view(analysis, *, study: str, clinical: dict | None = None) -> None:
    """Entry point the Analyze page calls (dashboard.analysis_panels.review)."""
    review_analysis(analysis, study=study, clinical=clinical, case_key=_showcase_key(study))


def review_instance_view(results, *, study: str, views, withheld: bool = False, reason: str = "",
                         model_name: str | None = None) -> None:
    """Entry point of the instance (first-trimester) flow."""
    review_instances(results, study=study, views=views, withheld=withheld, reason=reason,
                     case_key=_showcase_key(study), model_name=model_name)
