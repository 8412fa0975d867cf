"""Analyze: one patient's images + GA/CRL/FHR -> segmentation, CNN with uncertainty, Grad-CAM, rules;
instance studies (first trimester): detected structures, view category and completeness checklist."""

import streamlit as st

from dashboard import analyze_view as view
from dashboard import instance_view
from dashboard.components import disclaimer
from dashboard.resources import STUDIES, bootstrap
from dashboard.state import init_state

init_state()
bootstrap()
st.title("Analyze a patient")
disclaimer()

study = st.selectbox("Study", STUDIES, key="study")
if instance_view.is_instance_study(study):     # first trimester: structures found, view, completeness
    instance_view.analyze(study, view.choose_inputs(study))
    st.stop()
left, right = st.columns([2, 1])
with left:
    inputs = view.choose_inputs(study)
    clinical = view.clinical_inputs()
with right:
    model, segmenter = view.choose_models(study)
    cam = st.selectbox("Explanation", ["gradcam", "gradcam++", "hirescam", "layercam", "eigencam", "scorecam",
                                       "none"], key="cam_method")
    alpha = st.slider("Heat-map opacity", 0.0, 1.0, step=0.05, key="cam_alpha")

if st.button("Analyze", type="primary", disabled=not inputs):
    with st.spinner("Analyzing…"):
        st.session_state.analysis = view.run(inputs, clinical, model=model, segmenter=segmenter,
                                             cam=None if cam == "none" else cam, alpha=alpha)

analysis = st.session_state.analysis
if analysis is not None:
    for warning in analysis.warnings:
        st.warning(warning)
    c1, c2 = st.columns(2)
    with c1:
        view.cnn_panel(analysis)
    with c2:
        view.rule_panel(analysis.rules)
    view.image_panels(analysis)
    view.save_and_report(analysis, study=study, clinical=clinical)
    st.caption(f"Timings (ms): {analysis.timings_ms}")
