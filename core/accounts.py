"""Local accounts and roles for reader studies: scrypt password hashes in the store.

Why scrypt with these parameters: a stolen database must not give away passwords cheaply, so each password is
stored only as ``hashlib.scrypt`` (memory-hard; n=2**14, r=8, p=1, 16 MiB and tens of milliseconds per try)
with its own random 16-byte salt. Verification compares in constant time (``hmac.compare_digest``), and an
unknown user name costs the same hash as a known one, so timing does not reveal which accounts exist.
The hash string carries its parameters (``scrypt$n$r$p$salt$hash``), so stronger settings later still verify
old hashes. No function here returns or logs a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from core.errors import InputError

ROLES = ("organizer", "reader")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,100}$")
# A fixed, valid hash to verify against when a user does not exist (same cost as a real check).
_DUMMY_SALT = b"\0" * SALT_BYTES


class AccountError(InputError):
    """Bad account input: a user name, role or password that cannot be accepted."""


@dataclass(frozen=True)
class Account:
    """What the rest of SonoDash may know about a user: never the hash."""

    id: int
    username: str
    role: str
    active: bool = True


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=128 * 1024 * 1024,
                          dklen=KEY_BYTES)


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` with a fresh random salt."""
    _check_password(password)
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored`` (constant-time comparison; False for a malformed hash)."""
    try:
        scheme, n, r, p, salt, key = (stored or "").split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        salt_b, key_b = base64.b64decode(salt), base64.b64decode(key)
        n_i, r_i, p_i = int(n), int(r), int(p)
    except (ValueError, TypeError):
        _scrypt(str(password), _DUMMY_SALT, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        return False
    candidate = _scrypt(str(password), salt_b, n_i, r_i, p_i)
    return hmac.compare_digest(candidate, key_b)


def _check_password(password) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters are required")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"password: longer than {MAX_PASSWORD} characters")


def _check_username(username) -> str:
    name = str(username or "").strip()
    if not _USERNAME.match(name):
        raise AccountError(f"user name {name!r}: use 2-100 letters, digits or . _ @ -")
    return name


def _check_role(role) -> str:
    if role not in ROLES:
        raise AccountError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def _account(row) -> Account:
    return Account(id=row.id, username=row.username, role=row.role, active=bool(row.active))


def create_user(username: str, password: str | None, *, role: str = "reader",
                oidc_subject: str | None = None) -> Account:
    """A new account (``password`` None only for OIDC accounts). Raises AccountError when the name is taken."""
    from sqlalchemy.exc import IntegrityError

    from core.reader_study.schema import User
    from core.store import session_scope

    name, role = _check_username(username), _check_role(role)
    if password is None and oidc_subject is None:
        raise AccountError(f"user {name}: a password is required")
    digest = hash_password(password) if password is not None else None
    try:
        with session_scope() as session:
            if session.scalar(select(User.id).where(User.username == name)) is not None:
                raise AccountError(f"user {name} already exists")
            row = User(username=name, role=role, password_hash=digest, oidc_subject=oidc_subject, active=True)
            session.add(row)
            session.flush()
            return _account(row)
    except IntegrityError as exc:
        raise AccountError(f"user {name} already exists") from exc


def set_password(username: str, password: str) -> None:
    """Replace a user's password (a new salt and hash)."""
    from core.reader_study.schema import User
    from core.store import session_scope

    digest = hash_password(password)
    with session_scope() as session:
        row = session.scalar(select(User).where(User.username == _check_username(username)))
        if row is None:
            raise AccountError(f"user {username} does not exist")
        row.password_hash = digest


def authenticate(username: str, password: str) -> Account | None:
    """The account when name and password match an active user, else None (same cost either way)."""
    from core.reader_study.schema import User
    from core.store import session_scope

    name = str(username or "").strip()
    with session_scope(write=False) as session:
        row = session.scalar(select(User).where(User.username == name))
        stored = row.password_hash if row is not None else None
        account = _account(row) if row is not None else None
    ok = verify_password(str(password or ""), stored)
    if not ok or account is None or not account.active:
        return None
    return account


def oidc_account(subject: str, *, username: str) -> Account:
    """The account bound to an OIDC subject, created as a reader on first sign-in (an organizer promotes it)."""
    from core.reader_study.schema import User
    from core.store import session_scope

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
    from core.reader_study.schema import User
    from core.store import session_scope

    column = User.id if isinstance(username_or_id, int) else User.username
    with session_scope(write=False) as session:
        row = session.scalar(select(User).where(column == username_or_id))
        return None if row is None else _account(row)


def list_users(role: str | None = None) -> list[Account]:
    """All accounts (optionally of one role), by user name."""
    from core.reader_study.schema import User
    from core.store import session_scope

    query = select(User).order_by(User.username)
    if role is not None:
        query = query.where(User.role == _check_role(role))
    with session_scope(write=False) as session:
        return [_account(r) for r in session.scalars(query)]


def set_role(username: str, role: str) -> Account:
    """Change a user's role (organizer or reader)."""
    from core.reader_study.schema import User
    from core.store import session_scope

    with session_scope() as session:
        row = session.scalar(select(User).where(User.username == _check_username(username)))
        if row is None:
            raise AccountError(f"user {username} does not exist")
        row.role = _check_role(role)
        return _account(row)
