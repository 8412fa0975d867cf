"""Sign-in for every page: local accounts (Argon2id, throttled), sessions that survive a reload, demo mode.

Modes (``SONODASH_AUTH``): ``required`` (the default) asks for sign-in before any page runs; ``demo`` (set by
``make run`` and the real-browser tests) signs in one local demo user (role admin, no password) so a
stakeholder demo on the bundled sample data needs no setup, and says so in a banner on every page. In demo
mode anyone can still sign in with a real account ("Sign in as another user"), e.g. to show what a reader sees.

Why a cookie set from JavaScript: Streamlit keeps session state per browser tab connection, so a reload
would sign the user out. After a sign-in the server issues a signed, expiring token (:mod:`core.sessions`)
and a tiny ``st.components.v2`` component writes it into a ``SameSite=Strict`` cookie; on the next
connection ``st.context.cookies`` hands it back and :func:`core.sessions.resolve` checks signature, expiry
and revocation. Sign-out revokes the token on the server, so a copy of the cookie is worthless afterwards.
The account is re-read from the store on every run, so a deactivated or demoted account loses access at its
next click. OIDC (``[auth]`` in ``.streamlit/secrets.toml``) goes through st.login / st.user.
"""

from __future__ import annotations

import os

import streamlit as st

from core import audit, sessions
from core.accounts import DEMO_USER, Account, demo_account, oidc_account, sign_in

_KEY = "auth_token"          # the signed session token of this tab (None in demo mode's auto sign-in)
_DEMO_OFF = "auth_demo_off"  # True after "Sign in as another user" in demo mode
_COOKIE_JS = """
export default function(component) {
    const { data } = component;
    if (!data || !data.name) { return; }
    const secure = window.location.protocol === "https:" ? "; Secure" : "";
    const current = document.cookie.split("; ").find((c) => c.startsWith(data.name + "="));
    const want = data.value ? data.name + "=" + data.value : null;
    if (want && current !== want) {
        document.cookie = want + "; Path=/; Max-Age=" + data.max_age + "; SameSite=Strict" + secure;
    } else if (!want && current) {
        document.cookie = data.name + "=; Path=/; Max-Age=0; SameSite=Strict" + secure;
    }
}
"""
_cookie_component = st.components.v2.component("sonodash_session_cookie", js=_COOKIE_JS)


def auth_mode() -> str:
    """``demo`` or ``required`` (anything else, or unset, means required)."""
    return "demo" if os.environ.get("SONODASH_AUTH", "").strip().lower() == "demo" else "required"


def client_address() -> str:
    """The connecting client's address for per-client throttling (``local`` for this machine)."""
    try:
        return st.context.ip_address or "local"
    except Exception:  # noqa: BLE001 - no request context (AppTest)
        return "local"


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


def _cookie_token() -> str | None:
    try:
        return st.context.cookies.get(sessions.COOKIE_NAME)
    except Exception:  # noqa: BLE001 - no request context (AppTest)
        return None


def current_user() -> Account | None:
    """The signed-in account of this browser (re-read from the store every run), or None."""
    token = st.session_state.get(_KEY)
    if token is None and not st.session_state.get("auth_signed_out"):
        token = _cookie_token()
    if token:
        account = sessions.resolve(token)
        if account is not None:
            st.session_state[_KEY] = token
            return account
        st.session_state.pop(_KEY, None)
    account = _from_oidc()
    if account is not None:
        return account
    if auth_mode() == "demo" and not st.session_state.get(_DEMO_OFF):
        return demo_account()
    return None


def is_demo_user(account: Account | None) -> bool:
    return account is not None and auth_mode() == "demo" and st.session_state.get(_KEY) is None \
        and account.username == DEMO_USER


def sync_cookie(*, in_sidebar: bool = True) -> None:
    """Write (or clear) the session cookie so that a reload finds this tab's session."""
    token = st.session_state.get(_KEY)
    data = {"name": sessions.COOKIE_NAME, "value": token or "", "max_age": int(sessions.session_hours() * 3600)}
    with st.sidebar if in_sidebar else st.container():
        _cookie_component(key="sonodash_session_cookie", data=data, height=0)


def sign_in_form() -> None:
    """The local sign-in form (and the OIDC button when configured)."""
    column, _ = st.columns([3, 2])
    with column:
        st.title("Sign in to SonoDash")
        st.caption("Research software, not a medical device. Ask your administrator for an account.")
        if oidc_configured():
            st.button("Sign in with your organisation", on_click=st.login, key="oidc_login")
        with st.form("sign_in", clear_on_submit=True):
            username = st.text_input("User name", key="signin_user")
            password = st.text_input("Password", type="password", key="signin_password")
            submitted = st.form_submit_button("Sign in", type="primary")
        if auth_mode() == "demo":
            st.button("Back to the demo user", key="demo_back",
                      on_click=lambda: st.session_state.pop(_DEMO_OFF, None))
    if submitted:
        result = sign_in(username, password, client=client_address())
        if result.account is None:
            column.error(result.reason)
            return
        st.session_state[_KEY] = sessions.issue(result.account)
        st.session_state.pop("auth_signed_out", None)
        st.rerun()


def sign_out() -> None:
    """End this tab's session on the server and clear the cookie (at the next run)."""
    token = st.session_state.pop(_KEY, None) or _cookie_token()
    account = sessions.resolve(token) if token else None
    if token:
        sessions.revoke(token)
    if account is not None:
        audit.record(account.username, "auth.sign_out", f"user:{account.username}")
    st.session_state["auth_signed_out"] = True   # the cookie from the page load is no longer valid
    if auth_mode() == "demo":
        st.session_state[_DEMO_OFF] = True
    if oidc_configured():
        try:
            if st.user.is_logged_in:
                st.logout()
        except Exception:  # noqa: BLE001 - OIDC session already gone
            pass


def sidebar(account: Account, *, blinded_by: list[str]) -> None:
    """Who is signed in, the sign-out button and, in demo mode, how to switch user."""
    with st.sidebar:
        st.caption(f"Signed in as **{account.username}** ({account.role})")
        if blinded_by:
            st.caption(f"Blinded reading: {blinded_by[0]} is unfinished, so only Home and Read cases are open.")
        if is_demo_user(account):
            st.button("Sign in as another user", key="demo_switch",
                      on_click=lambda: st.session_state.__setitem__(_DEMO_OFF, True))
        else:
            st.button("Sign out", on_click=sign_out, key="sign_out")


def demo_banner() -> None:
    st.warning("**Demo mode** — bundled synthetic sample data, signed in as the local demo user (admin). "
               "Start with `SONODASH_AUTH=required` for real use.", icon=":material/science:")


def require(*roles: str) -> Account | None:
    """The signed-in account when its role is one of ``roles`` (any when none given); otherwise a notice.

    ``dashboard/app.py`` already refuses pages a role may not open; this is for finer checks inside a page.
    """
    account = current_user()
    if account is None:
        sign_in_form()
        return None
    if roles and account.role not in roles:
        st.info(f"This part is for {' or '.join(roles)} accounts. You are signed in as a {account.role}.")
        return None
    return account
