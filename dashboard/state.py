"""Session-state defaults in one place (DESIGN.md section 5): pages read them, never invent their own."""

import streamlit as st

DEFAULTS = {
    "study": "miscarriage",
    "cam_method": "gradcam",
    "cam_alpha": 0.4,
    "ga_weeks": 6,
    "ga_days": 3,
    "crl_mm": 5.0,
    "fhr_bpm": 120.0,
    "analysis": None,
    "job_id": None,
}


def init_state() -> None:
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
