"""Sign-in for the reader-study pages: local accounts (scrypt) or OIDC through st.login when configured.

Why session state holds only the user id and role: the password is checked once by core.accounts and never
kept (the form clears on submit); every page re-reads the account from the store, so a deactivated or
demoted account loses access at its next click. OIDC is used when ``.streamlit/secrets.toml`` has an
``[auth]`` section (Streamlit's st.login / st.user); the identity provider's subject is bound to a SonoDash
account (a new one starts as a reader; an organizer can promote it with ``python -m core accounts``).
"""

from __future__ import annotations

import streamlit as st

from core.accounts import Account, authenticate, get_user, oidc_account

_KEY = "auth_user"   # {"id": int, "role": str}


def oidc_configured() -> bool:
    """True when secrets.toml has an [auth] section (st.login can then be used)."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all
        return False


def _from_oidc() -> Account | None:
    try:
        if not (oidc_configured() and st.user.is_logged_in):
            return None
    except Exception:  # noqa: BLE001 - st.user unavailable in this context
        return None
    subject = st.user.get("sub") or st.user.get("email")
    name = st.user.get("email") or st.user.get("name") or "user"
    return oidc_account(str(subject), username=str(name)) if subject else None


def current_user() -> Account | None:
    """The signed-in account (re-read from the store), or None."""
    held = st.session_state.get(_KEY)
    if held:
        account = get_user(int(held["id"]))
        if account is not None and account.active:
            return account
        st.session_state.pop(_KEY, None)
    account = _from_oidc()
    if account is not None:
        st.session_state[_KEY] = {"id": account.id, "role": account.role}
    return account


def sign_in_form() -> None:
    """The local sign-in form (and the OIDC button when configured)."""
    st.subheader("Sign in")
    if oidc_configured():
        st.button("Sign in with your organisation", on_click=st.login, key="oidc_login")
    with st.form("sign_in", clear_on_submit=True):
        username = st.text_input("User name", key="signin_user")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        account = authenticate(username, password)
        if account is None:
            st.error("Unknown user name or wrong password.")
            return
        st.session_state[_KEY] = {"id": account.id, "role": account.role}
        st.rerun()


def sign_out() -> None:
    st.session_state.pop(_KEY, None)
    if oidc_configured():
        try:
            if st.user.is_logged_in:
                st.logout()
        except Exception:  # noqa: BLE001 - OIDC session already gone
            pass


def require(role: str | None = None) -> Account | None:
    """The signed-in account with ``role`` (any role when None); otherwise shows the sign-in form or a notice
    and returns None (the page then stops)."""
    account = current_user()
    if account is None:
        sign_in_form()
        return None
    with st.sidebar:
        st.caption(f"Signed in as **{account.username}** ({account.role})")
        st.button("Sign out", on_click=sign_out, key="sign_out")
    if role is not None and account.role != role:
        st.info(f"This page is for {role}s. You are signed in as a {account.role}.")
        return None
    return account
