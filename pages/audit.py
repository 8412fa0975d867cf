"""Audit trail and accounts (admin): who did what and when; accounts, roles and sign-in locks."""

import streamlit as st

st.title("Audit trail and accounts")

from dashboard import audit_view  # noqa: E402
from dashboard.auth import require  # noqa: E402

account = require("admin")
if account is None:
    st.stop()
trail_tab, accounts_tab = st.tabs(["Audit trail", "Accounts"])
with trail_tab:
    audit_view.trail(account.username)
with accounts_tab:
    audit_view.accounts_admin(account.username)
