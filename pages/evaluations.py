"""Evaluations: browse stored evaluations, overlay ROC/PR curves, CIs, calibration, subgroups, CSV export;
the first-trimester per-structure table (paper layout) of instance models and runs."""

import streamlit as st

from dashboard import bland_altman_view, charts, instance_eval_view
from dashboard import evaluations_view as view
from dashboard.resources import bootstrap, evaluation, evaluations

bootstrap()
st.title("Evaluations")

curves_tab, structures_tab, real_tab = st.tabs(["ROC / PR evaluations", "First-trimester structures",
                                                "Real-data benchmarks"])
with structures_tab:        # drawn first: the curves tab may st.stop() when there is nothing to compare
    instance_eval_view.instance_section()
with real_tab:
    bland_altman_view.section()
with curves_tab:
    table = evaluations()
    if table.empty:
        st.info("No stored evaluations yet. `python -m core evaluate --model BUNDLE --manifest CSV --name NAME` adds one.")
        st.stop()
    c1, c2 = st.columns(2)
    tasks = c1.multiselect("Study", sorted(table["task"].unique()), key="eval_tasks")
    models = c2.multiselect("Model", sorted(table["bundle_name"].dropna().unique()), key="eval_models")
    keep = table["task"].isin(tasks or table["task"].unique()) & \
        (table["bundle_name"].isin(models) if models else table["bundle_name"].notna() | table["bundle_name"].isna())
    shown = table[keep]
    st.dataframe(shown, hide_index=True, width="stretch")

    linked = st.query_params.get("evaluation")        # a model card links here with ?evaluation=NAME
    chosen = st.multiselect("Evaluations to compare", list(shown["name"]),
                            default=[linked] if linked in set(shown["name"]) else list(shown["name"])[:1],
                            key="eval_chosen")
    level = st.radio("Level", ["patient", "image"], horizontal=True, key="eval_level")
    if not chosen:
        st.stop()
    for name in chosen:     # weak or broken models say so (core.demo_quality)
        bland_altman_view.quality_note(name)
        view.paper_note(name)
    tasks_of = dict(zip(table["name"], table["task"]))
    multiclass = [n for n in chosen if len(evaluation(n)[0].get("class_names") or []) > 2]
    binary = [n for n in chosen if n not in multiclass]
    if binary:
        roc, pr, rows = view.curves_for(binary, level)
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.roc_figure(roc), width="stretch")
        c2.plotly_chart(charts.pr_figure(pr), width="stretch")
        st.dataframe(rows, hide_index=True, width="stretch")
        detail = st.selectbox("Details of", binary, key="eval_detail")
        c1, c2 = st.columns(2)
        threshold = c1.slider("Threshold", 0.0, 1.0, 0.5, 0.01, key="eval_threshold")
        specificity = c2.slider("Specificity for the sensitivity read-out and the partial AUC", 0.5, 0.99, 0.9,
                                0.01, key="eval_specificity")
        view.binary_details(detail, level, threshold, specificity)
    for name in multiclass:
        st.subheader(f"{name} ({tasks_of.get(name)}, multi-class)")
        view.multiclass_details(name)

    export = st.selectbox("Export per-case predictions", chosen, key="eval_export")
    st.download_button("Download CSV", evaluation(export)[1].to_csv(index=False), file_name=f"{export}.csv",
                       mime="text/csv")
