"""Session-state defaults in one place (DESIGN.md section 5): pages read them, never invent their own.

Why "kept" values: Streamlit deletes the state of every widget that is not drawn in a run, so a clinician who
visits another study (whose page has no CRL input) and comes back would find the defaults again. What the
user entered is therefore copied into plain session keys (``kept_<study>_<name>``), one set per study, and
each clinical widget is drawn with the kept value as its default. A programmatic change (a newly chosen
showcase patient) starts a new widget generation (a new key), so its default is taken; widget state is never
written through the session-state API, which races with a click made before the page has finished drawing
(the click's rerun would carry the widgets' unset minimums).
"""

import streamlit as st

from core.tasks import list_tasks

DEFAULTS = {
    "study": list_tasks()[0],   # the first registered task (core/tasks.py's order), never a literal here
    "cam_method": "gradcam",
    "cam_alpha": 0.4,
    "analysis": None,           # the analysis of what is on screen now (None when there is none or it is stale)
    "analysis_record": None,    # {"fingerprint", "study", "analysis", "inputs"}: the last Analyze click
    "job_id": None,
}
# Clinical inputs per study; 0 for CRL/FHR/spacing = not measured / not known.
CLINICAL_DEFAULTS = {"ga_weeks": 6, "ga_days": 3, "crl_mm": 5.0, "fhr_bpm": 120.0, "spacing_mm": 0.0}


def init_state() -> None:
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


def kept_key(study: str, name: str) -> str:
    return f"kept_{study}_{name}"


def widget_key(study: str, name: str) -> str:
    return f"{name}_{study}_{st.session_state.get(kept_key(study, 'generation'), 0)}"


def new_generation(study: str) -> None:
    """The clinical widgets of ``study`` are drawn afresh with the kept values (after a programmatic change)."""
    key = kept_key(study, "generation")
    st.session_state[key] = st.session_state.get(key, 0) + 1


def kept(study: str, name: str):
    """The value entered for ``study`` (the default until something was entered)."""
    return st.session_state.setdefault(kept_key(study, name), CLINICAL_DEFAULTS[name])


def keep(study: str, name: str, value) -> None:
    st.session_state[kept_key(study, name)] = value


def sticky(key: str, options, default=None) -> int:
    """The index a selectbox ``key`` is drawn with: its last value (kept in ``sticky_<key>``, so it survives
    Streamlit dropping the widget) while that is still an option, else ``default``'s, else 0. Passed as the
    widget's own default (not through the session-state API: see the module docstring); call
    :func:`remember` with what the widget returned."""
    options = list(options)
    for value in (st.session_state.get(f"sticky_{key}"), default):
        if value is not None and value in options:
            return options.index(value)
    return 0


def remember(key: str, value):
    st.session_state[f"sticky_{key}"] = value
    return value
