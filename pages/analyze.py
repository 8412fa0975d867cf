"""Analyze: one patient's images + clinical values -> segmentation and its measurements, CNN with
uncertainty, Grad-CAM, and the rules where the study uses them; instance studies (first trimester):
detected structures, view category and completeness checklist. What is shown comes from the task
(core.tasks), and a result is shown only while it is the result of the inputs on screen."""

import streamlit as st

from core.explain.methods import list_cam_methods
from core.tasks import get_task
from dashboard import analysis_panels as panels
from dashboard import analyze_view as view
from dashboard import instance_view
from dashboard import viewer
from dashboard.components import disclaimer
from dashboard.resources import bootstrap
from dashboard.state import init_state

init_state()
bootstrap()
st.title("Analyze a patient")
disclaimer()

study = st.selectbox("Study", view.study_options(), key="study")
task = get_task(study)
st.caption(task.title)
if task.kind == "instance":     # first trimester: structures found, view, completeness
    inputs, _ = view.choose_inputs(study)
    instance_view.analyze(study, inputs)
    st.stop()
left, right = st.columns([2, 1])
with left:
    inputs, showcase = view.choose_inputs(study)
    clinical = view.clinical_inputs(study, showcase)
with right:
    model, segmenter = view.choose_models(study)
    cam = st.selectbox("Explanation", [*list_cam_methods(), "none"], key="cam_method")
    alpha = st.slider("Heat-map opacity", 0.0, 1.0, step=0.05, key="cam_alpha")
cam = None if cam == "none" else cam
spacing = clinical.get("pixel_spacing_mm")     # the viewer's caption names the spacing the analysis uses
source = "from the showcase manifest" if showcase and showcase["values"].get("spacing_mm") == spacing else "entered"
frames = viewer.viewer(inputs, spacing_mm=spacing, spacing_source=source)["frames"]   # frames, window, zoom
fp = view.fingerprint(study, inputs, clinical=clinical, model=model, segmenter=segmenter, cam=cam,
                      frames=frames)

if st.button("Analyze", type="primary", disabled=not inputs):
    with st.spinner("Analyzing…"):
        result = view.run(inputs, clinical, study=study, model=model, segmenter=segmenter, cam=cam, alpha=alpha,
                          frames=frames)
    view.record(study, fp, result, clinical, model)

analysis = view.current(study, fp)
if analysis is not None:
    panels.errors_panel(analysis)
    for warning in analysis.warnings:
        st.warning(warning)
    st.markdown(panels.values_used(analysis))
    c1, c2 = st.columns(2)
    with c1:
        panels.decision_panel(analysis, task)
    with c2:
        if task.uses_rules:
            panels.rule_panel(analysis)
    panels.measurement_panel(analysis, task)        # full width: its columns must not be cut at 1024 px
    panels.image_panels(analysis, alpha)
    viewer.frame_results(analysis)
    panels.faithfulness_button(analysis, model)
    panels.review(analysis, study=study, clinical=clinical)
    panels.timings_panel(analysis)
