"""Cases: the cases clinicians saved from Analyze (patient key, study, AI output, decision, who, when), one case
in detail with its corrections, and the export of all of them as a training manifest."""

import streamlit as st

from core import store
from dashboard import cases_view as view
from dashboard.components import disclaimer
from dashboard.resources import bootstrap

bootstrap()
st.title("Saved cases")
disclaimer()

cases = store.list_cases()
if cases.empty:
    view.empty_hint()
    st.stop()
study = view.study_filter(cases)
shown = view.table(cases if study is None else cases[cases["study"] == study])
case_id = view.show_table(shown)
if case_id is not None:
    view.detail(case_id)
st.divider()
view.export_panel(study, len(shown))
