"""Accounts, roles and sign-in with throttling (hashes: :mod:`core.passwords`; sessions: :mod:`core.sessions`).

Why here and not in the dashboard: the CLI (``python -m core accounts``), the dashboard's sign-in and the
reader studies all need the same accounts and rules; the rest of SonoDash sees an :class:`Account`, never a
row or a hash. An unknown user name costs the same hash check as a known one (:func:`core.passwords.verify_password`),
so timing does not reveal which accounts exist; a legacy or weak hash is replaced by an Argon2id hash at the
user's next successful sign-in. No function here returns or logs a password.

Why throttling per account *and* per client: an online guesser either tries many passwords on one account or
one password on many accounts. Each failed sign-in counts against ``account:<name>`` and ``client:<address>``;
from the 5th consecutive failure a key must wait 2**(failures-5) seconds (capped at 15 minutes) before the
next try, and at 20 it is locked until an admin unlocks it. Every failure, refusal and lock is one row in the
audit trail (:mod:`core.audit`). A success clears both counters.

Why a changed password or a deactivated account revokes its sign-in sessions in the same transaction: no
moment exists in which the new password is stored and an old cookie still works.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core import audit
from core.errors import AccountError
from core.passwords import MAX_PASSWORD, MIN_PASSWORD, hash_password, needs_rehash, rehash, verify_password
from core.store import session_scope
from core.store.users_schema import AuthSession, LoginThrottle, User
from core.text_safety import unsafe_characters

__all__ = ["Account", "AccountError", "BACKOFF_AFTER", "DEMO_USER", "LOCK_AFTER", "MAX_DELAY_S", "MAX_PASSWORD",
           "MIN_PASSWORD", "ROLES", "ROLE_TEXT", "SignIn", "authenticate", "check_username", "create_user",
           "demo_account", "get_user", "hash_password", "list_users", "locked_keys", "needs_rehash",
           "oidc_account", "set_active", "set_password", "set_role", "sign_in", "throttle_state", "unlock",
           "verify_password"]

ROLES = ("admin", "organizer", "clinician", "researcher", "reader")
ROLE_TEXT = {"admin": "administrator: every page, accounts and the audit trail",
             "organizer": "sets up reader studies and sees their results",
             "clinician": "analyses patients, reviews cases, sees models and evaluations",
             "researcher": "trains and evaluates models",
             "reader": "reads the cases of the studies assigned to them (blinded)"}
BACKOFF_AFTER, LOCK_AFTER, MAX_DELAY_S = 5, 20, 900
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,100}$")
clock = time.time             # replaced in tests to step through back-off delays


@dataclass(frozen=True)
class Account:
    """What the rest of SonoDash may know about a user: never the hash."""

    id: int
    username: str
    role: str
    active: bool = True


@dataclass(frozen=True)
class SignIn:
    """The outcome of one sign-in attempt: ``account`` on success, else ``reason`` (one line for the user)."""

    account: Account | None
    reason: str = ""
    retry_after_s: float = 0.0
    locked: bool = False
    upgraded: bool = False


def check_username(username) -> str:
    """The user name stripped, or AccountError (letters, digits and . _ @ - only: no NUL, no bidi controls)."""
    name = str(username or "").strip()
    bad = unsafe_characters(name)
    if bad:
        raise AccountError(f"user name: contains the invisible control character {bad[0]}")
    if not _USERNAME.match(name):
        raise AccountError(f"user name {name!r}: use 2-100 letters, digits or . _ @ -")
    return name


_check_username = check_username


def _check_role(role) -> str:
    if role not in ROLES:
        raise AccountError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def _account(row) -> Account:
    return Account(id=row.id, username=row.username, role=row.role, active=bool(row.active))


def _audit(actor, action, target="", detail=None) -> None:
    audit.record(actor, action, target, detail)


def create_user(username: str, password: str | None, *, role: str = "reader",
                oidc_subject: str | None = None, actor: str | None = None) -> Account:
    """A new account (``password`` None only for OIDC and the demo user). AccountError when the name is taken."""
    name, role = check_username(username), _check_role(role)
    if password is None and oidc_subject is None and actor != "system":
        raise AccountError(f"user {name}: a password is required")
    digest = hash_password(password) if password is not None else None
    try:
        with session_scope() as session:
            if session.scalar(select(User.id).where(User.username == name)) is not None:
                raise AccountError(f"user {name} already exists")
            row = User(username=name, role=role, password_hash=digest, oidc_subject=oidc_subject, active=True)
            session.add(row)
            session.flush()
            account = _account(row)
    except IntegrityError as exc:
        raise AccountError(f"user {name} already exists") from exc
    _audit(actor, "account.create", f"user:{name}", {"role": role})
    return account


def _update_user(username: str, action: str, actor: str | None, detail: dict | None = None, **changes) -> Account:
    with session_scope() as session:
        row = session.scalar(select(User).where(User.username == check_username(username)))
        if row is None:
            raise AccountError(f"user {username} does not exist")
        for key, value in changes.items():
            setattr(row, key, value)
        account = _account(row)
        if action in ("account.password", "account.deactivate"):   # its sign-in sessions end with it
            session.execute(update(AuthSession).where(AuthSession.user_id == account.id,
                                                      AuthSession.revoked.is_(None))
                            .values(revoked=datetime.now(timezone.utc)))
    _audit(actor, action, f"user:{account.username}", detail)
    return account


def set_password(username: str, password: str, *, actor: str | None = None) -> None:
    """Replace a user's password (a new salt and Argon2id hash)."""
    _update_user(username, "account.password", actor, password_hash=hash_password(password))


def set_role(username: str, role: str, *, actor: str | None = None) -> Account:
    """Change a user's role (one of :data:`ROLES`)."""
    return _update_user(username, "account.role", actor, {"role": _check_role(role)}, role=role)


def set_active(username: str, active: bool, *, actor: str | None = None) -> Account:
    """Deactivate (or reactivate) an account; a deactivated account's sessions stop working at once."""
    return _update_user(username, "account.activate" if active else "account.deactivate", actor,
                        active=bool(active))


# --------------------------------------------------------------------------------------- throttling
def _throttle_keys(username: str, client: str | None) -> list[str]:
    keys = [f"account:{str(username or '').strip().lower()[:200]}"]
    if client:
        keys.append(f"client:{str(client)[:200]}")
    return keys


def _delay(failures: int) -> float:
    return 0.0 if failures < BACKOFF_AFTER else float(min(2 ** (failures - BACKOFF_AFTER), MAX_DELAY_S))


def throttle_state(key: str) -> dict:
    """{"failures", "locked", "retry_after_s"} of one throttle key (``account:NAME`` or ``client:ADDR``)."""
    with session_scope(write=False) as session:
        row = session.scalar(select(LoginThrottle).where(LoginThrottle.key == key))
        if row is None:
            return {"failures": 0, "locked": False, "retry_after_s": 0.0}
        wait = 0.0
        if row.last_failure is not None:
            wait = max(0.0, _delay(row.failures) - (clock() - row.last_failure.timestamp()))
        return {"failures": int(row.failures), "locked": bool(row.locked), "retry_after_s": wait}


def _count_failure(keys: list[str]) -> list[str]:
    """Add one failure to every key; returns the keys that became locked now."""
    now, newly_locked = datetime.fromtimestamp(clock(), tz=timezone.utc), []
    with session_scope() as session:
        for key in keys:
            row = session.scalar(select(LoginThrottle).where(LoginThrottle.key == key))
            if row is None:
                row = LoginThrottle(key=key, failures=0, locked=False)
                session.add(row)
            row.failures = int(row.failures or 0) + 1
            row.last_failure = now
            if row.failures >= LOCK_AFTER and not row.locked:
                row.locked = True
                newly_locked.append(key)
    return newly_locked


def _clear(keys: list[str]) -> None:
    with session_scope() as session:
        for row in session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))):
            if not row.locked:
                row.failures, row.last_failure = 0, None


def unlock(key_or_username: str, *, actor: str | None = None) -> None:
    """Clear a lock and its failure count (``account:NAME``, ``client:ADDR`` or a bare user name)."""
    key = key_or_username if ":" in key_or_username else f"account:{key_or_username.strip().lower()}"
    with session_scope() as session:
        row = session.scalar(select(LoginThrottle).where(LoginThrottle.key == key))
        if row is None:
            raise AccountError(f"{key}: nothing to unlock")
        row.failures, row.locked, row.last_failure = 0, False, None
    _audit(actor, "auth.unlock", key)


def locked_keys() -> list[dict]:
    """Every throttle key with failures, for the admin page."""
    with session_scope(write=False) as session:
        rows = session.scalars(select(LoginThrottle).where(LoginThrottle.failures > 0).order_by(LoginThrottle.key))
        return [{"key": r.key, "failures": r.failures, "locked": r.locked, "last_failure": r.last_failure}
                for r in rows]


def sign_in(username: str, password: str, *, client: str | None = None) -> SignIn:
    """Check a password with throttling and auditing; re-hashes a legacy or weak hash on success."""
    name = str(username or "").strip()[:200]
    keys = _throttle_keys(name, client)
    detail = {"client": client} if client else {}
    for key in keys:
        state = throttle_state(key)
        if state["locked"]:
            _audit(name or None, "auth.refused_locked", key, detail)
            return SignIn(None, "This account or computer is locked after too many failed sign-ins: ask an "
                                "administrator to unlock it.", locked=True)
        if state["retry_after_s"] > 0:
            _audit(name or None, "auth.throttled", key, {**detail, "retry_after_s": round(state["retry_after_s"])})
            return SignIn(None, f"Too many failed sign-ins: wait {state['retry_after_s']:.0f} s and try again.",
                          retry_after_s=state["retry_after_s"])
    with session_scope(write=False) as session:
        row = session.scalar(select(User).where(User.username == name)) if _USERNAME.match(name) else None
        stored = row.password_hash if row is not None else None
        account = _account(row) if row is not None else None
    ok = verify_password(str(password or ""), stored)
    if not ok or account is None or not account.active:
        locked = _count_failure(keys)
        _audit(name or None, "auth.sign_in_failed", f"account:{name}", detail)
        for key in locked:
            _audit(None, "auth.locked", key, {"failures": LOCK_AFTER})
        if locked:
            return SignIn(None, "Unknown user name or wrong password. After too many failures sign-in is now "
                                "locked: ask an administrator to unlock it.", locked=True)
        return SignIn(None, "Unknown user name or wrong password.")
    upgraded = False
    if needs_rehash(stored):
        with session_scope() as session:
            row = session.get(User, account.id)
            if row is not None and row.password_hash == stored:
                row.password_hash = rehash(password)
                upgraded = True
    _clear(keys)
    _audit(account.username, "auth.sign_in", f"user:{account.username}",
           {**detail, "rehashed": upgraded} if upgraded else detail)
    return SignIn(account, upgraded=upgraded)


def authenticate(username: str, password: str, *, client: str | None = None) -> Account | None:
    """The account when name and password match an active, unlocked user, else None (see :func:`sign_in`)."""
    return sign_in(username, password, client=client).account


# ------------------------------------------------------------------------------------------- lookups
def oidc_account(subject: str, *, username: str) -> Account:
    """The account bound to an OIDC subject, created as a reader on first sign-in (an admin promotes it)."""
    with session_scope(write=False) as session:
        row = session.scalar(select(User).where(User.oidc_subject == str(subject)))
        if row is not None:
            return _account(row)
    base = re.sub(r"[^A-Za-z0-9_.@-]", "_", username or "user")[:90] or "user"
    name = base if len(base) >= 2 else f"{base}_user"
    if get_user(name) is not None:
        name = f"{name}-{secrets.token_hex(3)}"
    return create_user(name, None, role="reader", oidc_subject=str(subject))


def get_user(username_or_id) -> Account | None:
    """The account by id (int) or user name (str), or None."""
    column = User.id if isinstance(username_or_id, int) else User.username
    with session_scope(write=False) as session:
        row = session.scalar(select(User).where(column == username_or_id))
        return None if row is None else _account(row)


def list_users(role: str | None = None) -> list[Account]:
    """All accounts (optionally of one role), by user name."""
    query = select(User).order_by(User.username)
    if role is not None:
        query = query.where(User.role == _check_role(role))
    with session_scope(write=False) as session:
        return [_account(r) for r in session.scalars(query)]


def demo_account() -> Account:
    """The local demo user of demo mode (role admin, no password: it cannot sign in from another machine)."""
    account = get_user(DEMO_USER)
    if account is None:
        try:
            account = create_user(DEMO_USER, None, role="admin", actor="system")
        except AccountError:
            account = get_user(DEMO_USER)
    return account


DEMO_USER = "demo"
