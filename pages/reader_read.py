"""Read cases (reader): a case at a time, unaided then with the AI, saved on submit, resumable; a case list
with skip, flag and back where the study allows navigation."""

import streamlit as st

st.title("Read cases")  # first, so the page shows at once while the rest loads

from core.errors import InputError  # noqa: E402
from core.reader_study import AccessDenied, ReaderSession  # noqa: E402
from core.reader_study.session import PHASES  # noqa: E402
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
phases = PHASES[study.design]
navigable = bool(study.questions.get("navigation"))
progress = session.progress(study.id)
st.progress(progress["done"] / max(progress["total"], 1),
            text=f"{progress['done']} of {progress['total']} readings done")
place = st.session_state.setdefault("read_at", {})


def _go(number: int) -> None:
    """Move to case ``number``: its first unanswered phase (or its last phase when all are answered)."""
    row = rows[number - 1]
    place[study.id] = (number, phases[len(row.done)] if len(row.done) < len(phases) else phases[-1])


rows = session.case_list(study.id)
if navigable:
    wanted = view.case_list(rows, phases, place.get(study.id, (0, ""))[0] or 1)
    if wanted is not None:
        _go(wanted)
item = None
if study.id in place:
    try:
        item = session.item(study.id, *place[study.id])
    except (AccessDenied, InputError) as err:
        st.warning(str(err))
        place.pop(study.id, None)
if item is None:
    item = session.next_item(study.id)
    if item is None:
        st.success("You have read every case of this study. Thank you!")
        st.stop()
    place[study.id] = (item.number, item.phase)

phase_text = "without AI" if item.phase == "unaided" else "with AI assistance"
st.subheader(f"Case {item.number} of {item.n_cases} — {phase_text}" + (" · flagged" if item.flagged else ""))
if navigable:
    bar = st.container(horizontal=True)
    if bar.button("Back", key="nav_back", disabled=item.number <= 1, icon=":material/arrow_back:"):
        _go(item.number - 1)
        st.rerun()
    if bar.button("Skip", key="nav_skip", disabled=item.number >= item.n_cases, icon=":material/skip_next:"):
        _go(item.number + 1)
        st.rerun()
    if bar.button("Unflag" if item.flagged else "Flag", key="nav_flag", icon=":material/flag:"):
        session.set_flag(study.id, item.case_id, item.phase, not item.flagged)
        st.rerun()
if item.previous is not None:
    st.caption(f"You answered this reading (version {item.previous.version}): {item.previous.label}, "
               f"confidence {item.previous.confidence:.0f}." + ("" if item.can_change else " It can no longer be changed."))
key = f"{study.id}_{item.case_id}_{item.phase}"
elapsed = view.reading_clock(key)
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
        session.submit(study.id, item.case_id, item.phase, seconds=elapsed(), **answer)
    except (InputError, AccessDenied) as err:
        st.error(str(err))
    else:
        st.session_state.pop(f"shown_{key}", None)
        place.pop(study.id, None)
        if navigable:  # the aided phase of this case next, else the next unfinished case after it
            rows = session.case_list(study.id)
            todo = [r.number for r in rows if len(r.done) < len(phases)]
            after = [n for n in todo if n >= item.number] or todo
            if after:
                _go(after[0])
        st.rerun()
