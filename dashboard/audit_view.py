"""Widgets of the admin page: the audit-trail filter and export, and account administration.

Why accounts sit next to the trail: unlocking an account after 20 failed sign-ins, changing a role or
deactivating a user are the admin's answers to what the trail shows, and each of them is itself audited.
"""

from __future__ import annotations

from datetime import datetime, time, timezone

import pandas as pd
import streamlit as st

from core import accounts, audit
from dashboard.components import run_action


def trail(actor_name: str) -> None:
    """Filters -> table -> CSV download (the download is audited as an export)."""
    c1, c2, c3, c4 = st.columns([2, 2, 2, 3])
    names = [""] + sorted({u.username for u in accounts.list_users()} | {"cli", "system"})
    who = c1.selectbox("Who", names, format_func=lambda v: v or "anyone", key="audit_actor")
    action = c2.selectbox("Action", [""] + _action_choices(), format_func=lambda v: v or "any action",
                          key="audit_action")
    target = c3.text_input("Target contains", key="audit_target")
    dates = c4.date_input("Between", value=(), key="audit_dates")
    since = until = None
    if isinstance(dates, tuple) and len(dates) == 2:
        since = datetime.combine(dates[0], time.min, tzinfo=timezone.utc)
        until = datetime.combine(dates[1], time.max, tzinfo=timezone.utc)
    entries = audit.query(actor=who or None, action=action or None, target=target or None, since=since,
                          until=until, limit=5000)
    st.caption(f"{len(entries)} rows (newest first; at most 5000 shown). The trail is append-only.")
    frame = pd.DataFrame([{"when (UTC)": e.at.strftime("%Y-%m-%d %H:%M:%S"), "who": e.actor or "—",
                           "action": e.action, "target": e.target,
                           "detail": ", ".join(f"{k}={v}" for k, v in e.detail.items())} for e in entries])
    if frame.empty:
        st.info("No audit rows match these filters.")
        return
    st.dataframe(frame, hide_index=True, width="stretch", height=420)
    st.download_button("Download these rows (CSV)", audit.to_csv(entries), file_name="sonodash-audit.csv",
                       mime="text/csv", key="audit_export", on_click=audit.record,
                       args=(actor_name, "export.audit", "audit", {"rows": len(entries)}))


def _action_choices() -> list[str]:
    names = audit.actions()
    prefixes = sorted({n.split(".")[0] + "." for n in names})
    return prefixes + names


def accounts_admin(actor_name: str) -> None:
    """Create accounts, change roles, (de)activate, unlock after failed sign-ins."""
    users = accounts.list_users()
    st.dataframe(pd.DataFrame([{"user": u.username, "role": u.role, "active": "yes" if u.active else "no"}
                               for u in users]), hide_index=True, width="stretch")
    with st.form("new_account", clear_on_submit=True):
        c1, c2, c3 = st.columns(3)
        name = c1.text_input("New user name", key="acct_new_name")
        password = c2.text_input("Initial password (at least 8 characters)", type="password", key="acct_new_pw")
        role = c3.selectbox("Role", accounts.ROLES, index=accounts.ROLES.index("reader"), key="acct_new_role",
                            format_func=lambda r: f"{r} — {accounts.ROLE_TEXT[r]}")
        if st.form_submit_button("Create account"):
            run_action(lambda: accounts.create_user(name, password, role=role, actor=actor_name),
                 f"Account {name.strip()} created as {role}.")
    others = [u.username for u in users if u.username != actor_name]
    if others:
        c1, c2, c3 = st.columns([2, 2, 3])
        who = c1.selectbox("Account", others, key="acct_pick")
        new_role = c2.selectbox("New role", accounts.ROLES, key="acct_role")
        with c3:
            st.write("")
            b1, b2, b3 = st.columns(3)
            if b1.button("Set role", key="acct_set_role"):
                run_action(lambda: accounts.set_role(who, new_role, actor=actor_name), f"{who} is now {new_role}.")
            if b2.button("Deactivate", key="acct_deactivate"):
                run_action(lambda: accounts.set_active(who, False, actor=actor_name), f"{who} deactivated.")
            if b3.button("Activate", key="acct_activate"):
                run_action(lambda: accounts.set_active(who, True, actor=actor_name), f"{who} activated.")
    st.markdown("##### Failed sign-ins")
    keys = accounts.locked_keys()
    if not keys:
        st.caption("No account or client has failed sign-ins.")
        return
    st.dataframe(pd.DataFrame([{"account or client": k["key"], "failures": k["failures"],
                                "locked": "yes" if k["locked"] else "no"} for k in keys]), hide_index=True)
    key = st.selectbox("Unlock", [k["key"] for k in keys], key="acct_unlock_key")
    if st.button("Unlock", key="acct_unlock"):
        run_action(lambda: accounts.unlock(key, actor=actor_name), f"{key} unlocked.")

