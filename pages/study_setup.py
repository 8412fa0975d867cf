"""Set up a reader study (organizer): cases, design, questions, AI model, readers; then preview, edit, open,
close or delete it."""

import streamlit as st

st.title("Set up a reader study")  # first, so the page shows at once while the rest loads

from core.reader_study import DESIGNS, OrganizerSession  # noqa: E402
from dashboard import auth  # noqa: E402
from dashboard import reader_admin as admin  # noqa: E402
from dashboard.resources import bootstrap, bundles, evaluations  # noqa: E402

account = auth.require("organizer", "admin")
if account is None:
    st.stop()
bootstrap()
org = OrganizerSession(account.id)
admin.add_reader_form(account.username)
models = bundles()

with st.expander("New study", expanded=not org.studies()):
    task, make_cases, source = admin.choose_cases(evaluations())
    name = st.text_input("Study name", key="setup_name")
    design = st.selectbox("Design", DESIGNS[::-1], format_func=admin.DESIGN_TEXT.get, key="setup_design")
    model = admin.choose_model(models, task, key="setup_model") if design != "unaided" else None
    readers = st.multiselect("Readers", [r.username for r in org.readers()], key="setup_readers")
    c1, c2, c3 = st.columns(3)
    allow_changes = c1.checkbox("Readers may change their answers (each change is kept as a new version)",
                                key="setup_changes")
    navigation = c2.checkbox("Readers may skip, flag and go back (case list)", key="setup_nav")
    ordinal = c3.checkbox("5-point scale instead of 0–100 confidence (binary tasks; weighted kappa)",
                          key="setup_ordinal")
    seed = st.number_input("Case-order seed (-1 = random)", -1, 2 ** 31 - 1, -1, key="setup_seed")
    st.caption("Two-class tasks: diagnosis + confidence that the case is the positive class. More classes: one of "
               "the K classes + confidence in that answer. Optional comment and region. Each reader gets their own "
               "shuffled order. The study starts as a draft: preview and edit it, then open it.")
    if st.button("Create draft study", type="primary", disabled=not (name and readers and task)):
        admin.create(org, name=name, task=task, make_cases=make_cases, source=source, readers=readers, design=design,
                     allow_changes=allow_changes, seed=seed, bundle_path=model,
                     questions={"navigation": navigation, "ordinal": ordinal})

studies = org.studies()
if studies:
    st.subheader("Studies")
    st.dataframe([{k: s[k] for k in ("name", "task", "design", "status", "positive_label", "allow_changes")}
                  | {"model": (s["bundle_path"] or "none").rsplit("/", 2)[-2] if s["bundle_path"] else "none",
                     "created": s["created"].strftime("%Y-%m-%d %H:%M")} for s in studies], hide_index=True)
    by_id = {s["id"]: s for s in studies}
    ids = list(by_id)
    current = st.session_state.get("manage_study")
    chosen = st.selectbox("Manage study", ids, index=ids.index(current) if current in ids else 0,
                          format_func=lambda i: f"{by_id[i]['name']} ({by_id[i]['status']})", key="manage_pick")
    st.session_state["manage_study"] = chosen
    admin.manage(org, by_id[chosen], models)
    st.markdown("##### Preview")
    admin.preview(org, by_id[chosen])
