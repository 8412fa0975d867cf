"""SonoDash entrypoint: routing only (st.navigation). Every page lives in ``pages/``."""

from pathlib import Path

import streamlit as st

from dashboard.pages_registry import PAGES

st.set_page_config(page_title="SonoDash", page_icon=":material/monitor_heart:", layout="wide")

_PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"

navigation = st.navigation(
    {
        section: [st.Page(_PAGES_DIR / spec.file, title=spec.title, icon=spec.icon, url_path=spec.url,
                          default=spec.default) for spec in specs]
        for section, specs in PAGES.items()
    }
)
navigation.run()
