"""Session-state defaults in one place (DESIGN.md section 5): pages read them, never invent their own.

Why "kept" values: Streamlit deletes the state of every widget that is not drawn in a run, so a clinician who
visits another study (whose page has no CRL input) and comes back would find the defaults again. What the
user entered is therefore copied into plain session keys (``kept_<study>_<name>``), one set per study, and
the widget is re-seeded from them whenever Streamlit has dropped it.
"""

import streamlit as st

DEFAULTS = {
    "study": "miscarriage",
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
    return f"{name}_{study}"


def kept(study: str, name: str):
    """The value entered for ``study`` (the default until something was entered)."""
    return st.session_state.setdefault(kept_key(study, name), CLINICAL_DEFAULTS[name])


def keep(study: str, name: str, value, *, to_widget: bool = False) -> None:
    """Remember ``value``; ``to_widget`` also puts it into the widget (before the widget is drawn)."""
    st.session_state[kept_key(study, name)] = value
    if to_widget:
        st.session_state[widget_key(study, name)] = value


def seed_widget(study: str, name: str) -> str:
    """The widget key, with the kept value put back when Streamlit dropped the widget's state."""
    key = widget_key(study, name)
    if key not in st.session_state:
        st.session_state[key] = kept(study, name)
    return key


def sticky(key: str, options=None, default=None) -> str:
    """Widget ``key`` re-seeded with its last value (kept in ``sticky_<key>``) when Streamlit dropped it, else
    with ``default``; a value no longer among ``options`` is not restored. Draw the widget without its own
    default (index/value) and call :func:`remember` after drawing it."""
    saved = st.session_state.get(f"sticky_{key}")
    if key not in st.session_state:
        if saved is not None and (options is None or saved in options):
            st.session_state[key] = saved
        elif default is not None:
            st.session_state[key] = default
    elif options is not None and st.session_state[key] not in options and default is not None:
        st.session_state[key] = default
    return key


def remember(key: str, value):
    st.session_state[f"sticky_{key}"] = value
    return value
