"""Set up a reader study (organizer): cases, design, questions, readers."""

import streamlit as st

st.title("Set up a reader study")  # first, so the page shows at once while the rest loads

from core.reader_study import DESIGNS, OrganizerSession  # noqa: E402
from dashboard import auth  # noqa: E402
from dashboard import reader_admin as admin  # noqa: E402
from dashboard.resources import bootstrap, evaluations  # noqa: E402

account = auth.require("organizer")
if account is None:
    st.stop()
bootstrap()
org = OrganizerSession(account.id)
admin.add_reader_form()

task, make_cases, source = admin.choose_cases(evaluations())
name = st.text_input("Study name", key="setup_name")
design = st.selectbox("Design", DESIGNS[::-1], format_func=admin.DESIGN_TEXT.get, key="setup_design")
readers = st.multiselect("Readers", [r.username for r in org.readers()], key="setup_readers")
c1, c2 = st.columns(2)
allow_changes = c1.checkbox("Readers may change their answers (each change is kept as a new version)",
                            key="setup_changes")
seed = c2.number_input("Case-order seed (-1 = random)", -1, 2 ** 31 - 1, -1, key="setup_seed")
st.caption("Every reader answers: diagnosis (class label), confidence 0–100 that the case is the positive "
           "class, an optional comment and an optional region (box). Each reader gets their own shuffled order.")

if st.button("Create study", type="primary", disabled=not (name and readers and task)):
    admin.create(org, name=name, task=task, make_cases=make_cases, source=source, readers=readers, design=design,
                 allow_changes=allow_changes, seed=seed)

studies = org.studies()
if studies:
    st.subheader("Studies")
    st.dataframe([{k: s[k] for k in ("name", "task", "design", "status", "positive_label", "allow_changes",
                                     "created")} for s in studies], hide_index=True)
