"""Small widgets shared by several pages."""

import streamlit as st

from core.errors import InputError

DISCLAIMER = ("Research software, not a medical device. Predictions must not be used for clinical decisions "
              "without independent confirmation.")


def disclaimer() -> None:
    """The research-use notice shown on every page that shows a prediction."""
    st.caption(f":warning: {DISCLAIMER}")


def run_action(action, message: str, *, rerun: bool = False) -> None:
    """Run a button's ``action``: bad input becomes one ``st.error`` line, success shows ``message`` (and reruns
    the page when what it lists has changed)."""
    try:
        action()
    except InputError as err:
        st.error(str(err))
    else:
        st.success(message)
        if rerun:
            st.rerun()
