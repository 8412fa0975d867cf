"""Drawing one Analysis on the Analyze page: decision, per-class table, measurements, rules, images, timings.

Why plain tables and markdown rather than ``st.metric``: a metric's label is cut at the column width
("P(misc…", "Uncert…" at 1024 px) and a cut label is a wrong label. Tables wrap. What is shown depends on
the task (core.tasks): the rule panel only where ``uses_rules``, the centre-line length where the task names
one (``length_measure``), the per-class table where the task has more than two labels. An image out of the
model's distribution withholds the decision: the probability is greyed with the reason, never presented as
an answer.
"""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from core.case_report import contour_image, png_bytes


def _label(name) -> str:
    return str(name).replace("_", " ")


def _f(value, digits: int = 3, unit: str = "") -> str:
    return "—" if value is None else f"{value:.{digits}f}{unit}"


def values_used(analysis) -> str:
    """One line with the clinical values and pixel spacing the analysis used (also in the report)."""
    c = analysis.clinical or {}
    parts = []
    if c.get("ga_weeks") is not None:
        days = int(round(c["ga_weeks"] * 7))
        parts.append(f"GA {days // 7}w{days % 7}d")
    if analysis.rules is not None or "crl_mm" in c and c.get("crl_mm") is not None:
        parts.append(f"CRL {_f(c.get('crl_mm'), 1, ' mm')}")
        parts.append(f"FHR {_f(c.get('fhr_bpm'), 0, ' bpm')}")
    spacing = c.get("pixel_spacing_mm")
    parts.append(f"pixel spacing {spacing} mm" if spacing else "no pixel spacing (sizes in pixels)")
    return "Values used: " + " · ".join(parts)


def errors_panel(analysis) -> None:
    for err in analysis.errors:
        st.error(err["error"])


def decision_panel(analysis, task) -> None:
    """The model's answer: probability, decision, uncertainty; greyed and withheld when out of distribution."""
    n = len(analysis.images)
    frames = sum(r.kind == "video" for r in analysis.images)
    what = (f"{n - frames} image{'s' if n - frames != 1 else ''} and {frames} cine frame{'s' if frames != 1 else ''}"
            if frames else f"{n} image{'s' if n != 1 else ''}")
    st.markdown(f"**CNN** — patient level, {analysis.aggregation} over {what}")
    if analysis.probability is None:
        st.write("No classifier chosen.")
        return
    unc = analysis.uncertainty or {}
    spread = (f"{unc['sd']:.3f} (SD, {unc.get('method')}, n={unc.get('n')})" if unc else "—")
    if analysis.positive_label is not None:
        first = (f"P({_label(analysis.positive_label)})", f"{analysis.probability:.3f}")
    else:
        first = ("P(decided class)", f"{analysis.probability:.3f}")
    rows = [first, ("Decision", _label(analysis.predicted_class)),
            ("Threshold", f"{analysis.threshold:.2f}" if task.is_binary else "highest probability"),
            ("Uncertainty", spread)]
    if analysis.decision_withheld:
        st.error(f"Decision withheld: {analysis.ood['reason']}. The probability below is shown greyed for "
                 "reference only.")
        body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
        st.markdown(f'<table class="sd-withheld" style="color:#9e9e9e"><tbody>{body}</tbody></table>',
                    unsafe_allow_html=True)
    else:
        st.table(pd.DataFrame(rows, columns=["", "value"]).set_index(""))
    if not task.is_binary and analysis.probabilities:
        per_class = sorted(analysis.probabilities.items(), key=lambda kv: -kv[1])
        st.markdown("**Per class**")
        st.table(pd.DataFrame([{"class": _label(k), "probability": f"{v:.3f}",
                                "": "decided" if k == analysis.predicted_class else ""} for k, v in per_class])
                 .set_index("class"))


def measurement_panel(analysis, task) -> None:
    """The segmentation's biometry per image: the task's length measure first, then area and ellipse."""
    rows = []
    for r in analysis.images:
        b = r.biometry
        if not b:
            continue
        row = {"image": r.name + (f" #{r.frame}" if r.kind == "video" else "")}
        if task.length_measure:
            row[f"{task.length_measure} (mm)"] = _f(b.get("length_mm"), 1)
        row["area (mm²)"] = _f(b.get("area_mm2"), 1)
        row["circumference (mm)"] = _f(b.get("circumference_mm"), 1)
        row["mean diameter (mm)"] = _f(b.get("mean_diameter_mm"), 1)
        rows.append(row)
    if not rows:
        return
    st.markdown("**Segmentation measurements**")
    st.table(pd.DataFrame(rows).set_index("image"))
    if any(r.pixel_spacing_mm is None for r in analysis.images if r.biometry):
        st.caption("No pixel spacing for some images: enter mm / pixel to get sizes in mm.")


def rule_panel(analysis) -> None:
    rules = analysis.rules
    st.markdown("**CRL / FHR rules** (DeVilbiss thresholds)")
    if not rules:
        st.write("Enter GA to apply the rules.")
        return
    if not rules.get("applicable"):
        st.warning("Rules not applicable (GA outside weeks 6–8 or a value missing).")
    yes = {True: "yes", False: "no", None: "—"}
    st.table(pd.DataFrame([("CRL small", yes[rules.get("crl_low")]), ("FHR low", yes[rules.get("fhr_low")]),
                           ("CRL + FHR both low", yes[rules.get("both_low")])],
                          columns=["rule", "result"]).set_index("rule"))


def image_panels(analysis, alpha: float) -> None:
    from core.explain.overlay import overlay_cam

    for k, r in enumerate(analysis.images):
        title = r.name + (f" — frame {r.frame}" if r.kind == "video" or r.frame else "")
        extra = ""
        if r.probabilities is not None and analysis.positive_label is not None:
            extra = f" · image P({_label(analysis.positive_label)}) {r.probability:.3f}"
        elif r.probabilities is not None:        # multi-class: name the class the number belongs to
            top = int(r.probabilities.argmax())
            extra = f" · image: {_label(analysis.class_names[top])} {r.probabilities[top]:.3f}"
        st.markdown(f"**{title}**{extra}")
        cols = st.columns(2)
        cols[0].image(contour_image(r), caption="segmentation contour" if r.mask is not None else "original",
                      width="stretch")
        if r.cam is not None:
            overlay = overlay_cam(r.image, r.cam, alpha=alpha)     # opacity is display only: no re-analysis
            road = f", ROAD {r.faithfulness:+.3f}" if r.faithfulness is not None else ""
            cols[1].image(overlay, caption=f"{analysis.cam_method} overlay{road}", width="stretch")
            cols[1].download_button("Download overlay PNG", png_bytes(overlay), file_name=f"overlay-{k}.png",
                                    mime="image/png", key=f"dl_overlay_{k}")


def faithfulness_button(analysis, model: str | None) -> None:
    """ROAD on request: it costs many forward passes, so it never delays the first result."""
    if model is None or not any(r.cam is not None for r in analysis.images):
        return
    if any(r.faithfulness is not None for r in analysis.images):
        return
    if st.button("Score the heat maps' faithfulness (ROAD)", key="road_button"):
        from core.pipeline import add_faithfulness
        from dashboard import resources

        with st.spinner("Scoring the heat maps…"):
            add_faithfulness(analysis, resources.predictor(model))
        st.rerun()


def timings_panel(analysis) -> None:
    with st.expander("Timings"):
        st.table(pd.DataFrame([(k.replace("_", " "), f"{v:.0f} ms") for k, v in analysis.timings_ms.items()],
                              columns=["step", "time"]).set_index("step"))


def review(analysis, *, study: str, clinical: dict) -> None:
    """Clinician review, save and report: the viewer-cases module when present, else the basic form."""
    try:
        from dashboard.review_view import review_view
    except ImportError:
        review_view = None
    if review_view is not None:
        review_view(analysis, study=study, clinical=clinical)
        return
    _save_and_report(analysis, study=study, clinical=clinical)


def _save_and_report(analysis, *, study: str, clinical: dict) -> None:
    from core.case_report import case_report_html

    st.markdown("**Clinician review**")
    options = list(analysis.class_names) or ["n/a"]
    # No preselected answer when the model's decision is withheld (out of distribution) or absent.
    index = options.index(analysis.decision) if analysis.decision in options else None
    decision = st.radio("Decision", options, index=index, horizontal=True, key="decision", format_func=_label)
    note = st.text_area("Note", key="case_note", max_chars=2000)
    c1, c2 = st.columns(2)
    if c1.button("Save case", type="primary", disabled=decision is None):
        from core import store

        case_id = store.save_case(study=study, probability=analysis.probability, decision=analysis.decision,
                                  override=decision if decision != analysis.decision else None, note=note,
                                  bundle_name=(analysis.model or {}).get("name"), rules=analysis.rules)
        st.success(f"Case saved (#{case_id}).")
    report = case_report_html(analysis, study=study, decision=decision, note=note, clinical=clinical)
    c2.download_button("Download report (HTML)", report, file_name="sonodash-case.html", mime="text/html")
