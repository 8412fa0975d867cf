"""Password hashes: Argon2id for new ones, legacy scrypt still verified, and the password rules.

Why Argon2id: a stolen database must not give away passwords cheaply. New hashes are Argon2id through
argon2-cffi with its RFC 9106 low-memory profile (64 MiB, 3 passes), each with its own salt; the encoded
string carries its parameters, so stronger settings later still verify old hashes and :func:`needs_rehash`
tells :func:`core.accounts.sign_in` to re-hash them at the next sign-in. Hashes written before Argon2
(``scrypt$n$r$p$salt$hash``, n=2**14) still verify (constant-time ``hmac.compare_digest``), so no one has to
reset a password. A missing or malformed hash costs the same Argon2 check as a real one, so timing does not
reveal which accounts exist. Nothing here touches the store, returns or logs a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import AccountError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
KEY_BYTES = 32
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
_DUMMY: list[str] = []        # one Argon2id hash to verify against when a user does not exist


def _hasher():
    return PasswordHasher()   # Argon2id, RFC 9106 low-memory profile (argon2-cffi's default)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=128 * 1024 * 1024,
                          dklen=KEY_BYTES)


def hash_password(password: str) -> str:
    """An Argon2id hash string (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``) with a fresh salt."""
    check_password(password)
    return _hasher().hash(password)


def rehash(password: str) -> str:
    """A fresh Argon2id hash of a password that has just verified (no length rule: an old password may be
    shorter than today's minimum and must still be upgraded, not refused)."""
    return _hasher().hash(str(password))


def _verify_scrypt(password: str, stored: str) -> bool:
    scheme, n, r, p, salt, key = stored.split("$")
    if scheme != "scrypt":
        raise ValueError(scheme)
    candidate = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(candidate, base64.b64decode(key))


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored`` (Argon2id or legacy scrypt); False for a malformed hash."""
    text, stored = str(password), stored or ""
    if stored.startswith("scrypt$"):
        try:
            return _verify_scrypt(text, stored)
        except (ValueError, TypeError):
            pass
    elif stored.startswith("$argon2"):
        try:
            return _hasher().verify(stored, text)
        except (VerificationError, InvalidHashError):
            return False
    if not _DUMMY:
        _DUMMY.append(_hasher().hash(secrets.token_hex(16)))
    try:  # same cost as a real check, so a missing or broken hash is not faster
        _hasher().verify(_DUMMY[0], text)
    except (VerificationError, InvalidHashError):
        pass
    return False


def needs_rehash(stored: str | None) -> bool:
    """True for a legacy scrypt hash or an Argon2 hash with weaker parameters than today's."""
    if not stored:
        return False
    if stored.startswith("scrypt$"):
        return True
    try:
        return _hasher().check_needs_rehash(stored)
    except Exception:  # noqa: BLE001 - not an argon2 string at all
        return True


def check_password(password) -> None:
    """AccountError unless ``password`` is a string of MIN_PASSWORD..MAX_PASSWORD characters without NUL."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters are required")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"password: longer than {MAX_PASSWORD} characters")
    if "\0" in password:
        raise AccountError("password: contains a NUL character")
