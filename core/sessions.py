"""Sign-in sessions that survive a page reload: a signed, expiring token in a cookie, revocable on the server.

Why both a signature and a server-side row: the HMAC (key in ``$SONODASH_HOME/secret_key``, made on first
use, readable only by its owner) rejects forged or altered cookies without a database query, and the row
(``auth_sessions``, holding only a SHA-256 of the token) lets sign-out, deactivation or an admin end a session
at once, even if a copy of the cookie survives somewhere. A token is ``<random>.<expiry>.<signature>``; it
expires after ``SONODASH_SESSION_HOURS`` (default 12) hours.

>>> token = issue(account)                       # doctest: +SKIP
>>> resolve(token) == account                    # doctest: +SKIP
True
>>> revoke(token); resolve(token) is None        # doctest: +SKIP
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from core.accounts import get_user
from core.paths import sonodash_home
from core.store import session_scope
from core.store.users_schema import AuthSession

COOKIE_NAME = "sonodash_session"
DEFAULT_HOURS = 12.0
_KEY_FILE = "secret_key"


def session_hours() -> float:
    """Lifetime of a session from ``SONODASH_SESSION_HOURS`` (0.05 .. 720; default 12)."""
    try:
        hours = float(os.environ.get("SONODASH_SESSION_HOURS", DEFAULT_HOURS))
    except ValueError:
        hours = DEFAULT_HOURS
    return min(max(hours, 0.05), 720.0)


def secret_key() -> bytes:
    """The signing key, generated into ``$SONODASH_HOME/secret_key`` (mode 0600) on first use."""
    path = sonodash_home() / _KEY_FILE
    if not path.is_file():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass        # another process made it first
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _sign(body: str) -> str:
    return hmac.new(secret_key(), body.encode("ascii"), hashlib.sha256).hexdigest()


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def issue(account, *, hours: float | None = None) -> str:
    """A new session for ``account`` (an :class:`core.accounts.Account`); returns the cookie value."""
    raw = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    expires = now + timedelta(hours=hours if hours is not None else session_hours())
    with session_scope() as session:
        session.add(AuthSession(token_hash=_digest(raw), user_id=int(account.id), created=now, expires=expires))
    body = f"{raw}.{int(expires.timestamp())}"
    return f"{body}.{_sign(body)}"


def _parse(token) -> tuple[str, int] | None:
    try:
        raw, exp, sig = str(token or "").split(".")
        if not hmac.compare_digest(_sign(f"{raw}.{exp}"), sig):
            return None
        return raw, int(exp)
    except (ValueError, UnicodeEncodeError):
        return None


def resolve(token):
    """The active :class:`core.accounts.Account` of a valid, unexpired, unrevoked token, else None."""
    parsed = _parse(token)
    if parsed is None or parsed[1] < datetime.now(timezone.utc).timestamp():
        return None
    with session_scope(write=False) as session:
        row = session.scalar(select(AuthSession).where(AuthSession.token_hash == _digest(parsed[0])))
        if row is None or row.revoked is not None or row.expires < datetime.now(timezone.utc):
            return None
        user_id = row.user_id
    account = get_user(int(user_id))
    return account if account is not None and account.active else None


def revoke(token) -> bool:
    """End the session of ``token`` (sign-out); True when a live session was ended."""
    parsed = _parse(token)
    if parsed is None:
        return False
    with session_scope() as session:
        row = session.scalar(select(AuthSession).where(AuthSession.token_hash == _digest(parsed[0])))
        if row is None or row.revoked is not None:
            return False
        row.revoked = datetime.now(timezone.utc)
        return True


def revoke_all(user_id: int) -> int:
    """End every live session of a user; returns how many. (A password change or a deactivation does the
    same inside :mod:`core.accounts`' own transaction, so accounts need not import this module.)"""
    now = datetime.now(timezone.utc)
    with session_scope() as session:
        rows = list(session.scalars(select(AuthSession).where(AuthSession.user_id == int(user_id),
                                                             AuthSession.revoked.is_(None))))
        for row in rows:
            row.revoked = now
        return len(rows)
