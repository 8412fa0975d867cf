"""Read cases (reader): one case at a time, unaided then with the AI, saved on submit, resumable."""

import streamlit as st

st.title("Read cases")  # first, so the page shows at once while the rest loads

from core.errors import InputError  # noqa: E402
from core.reader_study import ReaderSession  # noqa: E402
from dashboard import auth  # noqa: E402
from dashboard import reader_view as view  # noqa: E402
from dashboard.components import disclaimer  # noqa: E402

account = auth.require()
if account is None:
    st.stop()
disclaimer()

session = ReaderSession(account.id)
studies = [s for s in session.studies() if s.status == "open"]
if not studies:
    st.info("No open reader study is assigned to you.")
    st.stop()
names = {s.name: s for s in studies}
study = names[st.selectbox("Study", list(names), key="read_study")]
progress = session.progress(study.id)
st.progress(progress["done"] / max(progress["total"], 1),
            text=f"{progress['done']} of {progress['total']} readings done")

item = session.next_item(study.id)
if item is None:
    st.success("You have read every case of this study. Thank you!")
    st.stop()

phase_text = "without AI" if item.phase == "unaided" else "with AI assistance"
st.subheader(f"Case {item.number} of {item.n_cases} — {phase_text}")
key = f"{study.id}_{item.case_id}_{item.phase}"
left, right = st.columns([3, 2])
with left:
    box = view.viewer(item, key)
with right:
    view.clinical(item)
    if item.ai is not None:
        view.ai_panel(item)
    answer = view.answer_form(study, item, box, key)
if answer is not None:
    try:
        session.submit(study.id, item.case_id, item.phase, **answer)
    except InputError as err:
        st.error(str(err))
    else:
        st.rerun()
