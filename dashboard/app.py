"""SonoDash entrypoint: sign-in and routing (st.navigation). Every page lives in ``pages/``.

Access is decided here, once, for every page: the signed-in account's role and blinding state
(``dashboard/pages_registry.py``) give the pages in the menu; any other registered URL is answered by a
refusal (and an audit row) instead of its script, so a page script never runs for someone who may not see it.
"""

from pathlib import Path

import streamlit as st

from core import audit
from dashboard import auth
from dashboard.pages_registry import PAGES, all_specs, may_open

st.set_page_config(page_title="SonoDash", page_icon=":material/monitor_heart:", layout="wide")

_PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"


def _refusal(spec, account, blinded_by):
    def refuse():
        st.title(spec.title)
        if blinded_by:
            st.error(f"Closed while your reading of **{blinded_by[0]}** is unfinished: this page can show AI output "
                     "or ground truth. Finish your readings on Read cases first.", icon=":material/block:")
        else:
            st.error(f"Your role ({account.role}) may not open this page. Ask an administrator if you need it.",
                     icon=":material/block:")
        audit.record(account.username, "access.refused", f"page:{spec.url}",
                     {"role": account.role, "blinded": bool(blinded_by)})

    refuse.__name__ = f"refused_{spec.url.replace('-', '_')}"
    return refuse


def _sign_in_page(spec):
    def sign_in():
        auth.sign_in_form()

    sign_in.__name__ = f"sign_in_{spec.url.replace('-', '_')}"
    return sign_in


account = auth.current_user()
if auth.auth_mode() == "demo":
    auth.demo_banner()
if account is None:
    auth.sync_cookie(in_sidebar=False)      # clears a stale cookie after sign-out
    # every URL answers with the sign-in form, so the page asked for opens right after signing in
    st.navigation([st.Page(_sign_in_page(spec), title=spec.title, url_path=spec.url, default=spec.default,
                           visibility="hidden") for spec in all_specs()], position="hidden").run()
    st.stop()
auth.sync_cookie()

from core.reader_study.blinding import unfinished_studies  # noqa: E402

blinded_by = unfinished_studies(account.id)
auth.sidebar(account, blinded_by=blinded_by)
sections = {}
for section, specs in PAGES.items():
    pages = []
    for spec in specs:
        if may_open(account.role, spec.url, blinded=bool(blinded_by)):
            pages.append(st.Page(_PAGES_DIR / spec.file, title=spec.title, icon=spec.icon, url_path=spec.url,
                                 default=spec.default))
        else:
            pages.append(st.Page(_refusal(spec, account, blinded_by), title=spec.title, icon=spec.icon,
                                 url_path=spec.url, default=spec.default, visibility="hidden"))
    sections[section] = pages
navigation = st.navigation(sections)
navigation.run()
