"""Small widgets shared by several pages."""

import streamlit as st

DISCLAIMER = ("Research software, not a medical device. Predictions must not be used for clinical decisions "
              "without independent confirmation.")


def disclaimer() -> None:
    """The research-use notice shown on every page that shows a prediction."""
    st.caption(f":warning: {DISCLAIMER}")
