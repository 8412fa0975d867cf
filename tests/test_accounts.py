"""Accounts: Argon2id hashes (legacy scrypt upgraded), throttling, sessions, roles, the accounts command."""

import hashlib
import subprocess
import sys

import pytest

from core import accounts
from core.accounts import AccountError


def _legacy_scrypt(password: str) -> str:
    """A hash as SonoDash wrote it before Argon2id (scrypt n=2**14, r=8, p=1)."""
    import base64
    import os as _os

    salt = _os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=32)
    return f"scrypt${2 ** 14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def test_hash_is_salted_argon2id():
    from argon2 import PasswordHasher

    h1, h2 = accounts.hash_password("correct horse"), accounts.hash_password("correct horse")
    assert h1 != h2  # a fresh salt every time
    assert h1.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PasswordHasher().verify(h1, "correct horse")
    assert "correct horse" not in h1
    assert accounts.verify_password("correct horse", h1)
    assert not accounts.verify_password("correct horsf", h1)
    assert not accounts.verify_password("correct horse", "garbage")
    assert not accounts.verify_password("correct horse", None)
    legacy = _legacy_scrypt("correct horse")
    assert accounts.verify_password("correct horse", legacy) and not accounts.verify_password("wrong horse", legacy)
    assert accounts.needs_rehash(legacy) and not accounts.needs_rehash(h1)


def test_old_scrypt_hash_signs_in_and_is_rehashed_with_argon2id():
    from sqlalchemy import select

    from core import audit
    from core.store.users_schema import User
    from core.store import session_scope

    accounts.create_user("old", "old-password-1", role="clinician")
    with session_scope() as session:
        session.scalar(select(User).where(User.username == "old")).password_hash = _legacy_scrypt("old-password-1")
    assert accounts.sign_in("old", "wrong-password").account is None
    with session_scope(write=False) as session:   # a failed sign-in never touches the hash
        assert session.scalar(select(User.password_hash).where(User.username == "old")).startswith("scrypt$")
    result = accounts.sign_in("old", "old-password-1")
    assert result.account.username == "old" and result.upgraded
    with session_scope(write=False) as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "old"))
    assert stored.startswith("$argon2id$") and accounts.verify_password("old-password-1", stored)
    again = accounts.sign_in("old", "old-password-1")
    assert again.account is not None and not again.upgraded
    signins = audit.query(action="auth.sign_in", actor="old", newest_first=False)
    assert [e.detail.get("rehashed") for e in signins] == [True, None]


def test_25_wrong_passwords_lock_the_account_until_an_admin_unlocks(monkeypatch):
    from core import audit

    now = [1_000_000.0]
    monkeypatch.setattr(accounts, "clock", lambda: now[0])
    accounts.create_user("vic", "right-password", role="reader")
    outcomes = []
    for _ in range(25):
        res = accounts.sign_in("vic", "wrong-password", client="10.0.0.1")
        outcomes.append("refused" if res.reason.startswith("This account") else "checked")
        assert res.account is None
        now[0] += accounts.MAX_DELAY_S + 1      # wait out every back-off delay
    assert outcomes == ["checked"] * 20 + ["refused"] * 5           # locked at the 20th failure
    assert accounts.throttle_state("account:vic") == {"failures": 20, "locked": True, "retry_after_s": 0.0}
    locked = accounts.sign_in("vic", "right-password")   # the right password no longer opens it
    assert locked.account is None and locked.locked
    assert len(audit.query(action="auth.sign_in_failed", actor="vic")) == 20
    assert {e.target for e in audit.query(action="auth.locked")} == {"account:vic", "client:10.0.0.1"}
    assert len(audit.query(action="auth.refused_locked")) == 5 + 1
    accounts.unlock("vic", actor="admin")
    assert accounts.sign_in("vic", "right-password", client="10.0.0.1").account is None   # client still locked
    accounts.unlock("client:10.0.0.1", actor="admin")
    assert accounts.sign_in("vic", "right-password", client="10.0.0.1").account.username == "vic"
    assert [e.actor for e in audit.query(action="auth.unlock")] == ["admin", "admin"]


def test_back_off_doubles_after_five_failures(monkeypatch):
    now = [5_000.0]
    monkeypatch.setattr(accounts, "clock", lambda: now[0])
    accounts.create_user("wes", "right-password")
    for _ in range(5):
        assert accounts.sign_in("wes", "nope-nope").reason == "Unknown user name or wrong password."
    res = accounts.sign_in("wes", "right-password")          # 5 failures: wait 1 s, even with the right one
    assert res.account is None and res.retry_after_s == pytest.approx(1.0)
    now[0] += 1.01
    assert accounts.sign_in("wes", "nope-nope").account is None      # 6th failure -> 2 s
    assert accounts.throttle_state("account:wes")["retry_after_s"] == pytest.approx(2.0)
    now[0] += 2.01
    assert accounts.sign_in("wes", "right-password").account is not None
    assert accounts.throttle_state("account:wes")["failures"] == 0   # a success clears the counter


def test_sessions_survive_lookup_and_end_on_sign_out():
    from core import sessions

    acc = accounts.create_user("sue", "sue-password", role="clinician")
    token = sessions.issue(acc)
    assert sessions.resolve(token) == acc
    raw, exp, sig = token.split(".")
    assert sessions.resolve(f"{raw}.{int(exp) + 3600}.{sig}") is None          # altered expiry: bad signature
    assert sessions.resolve(f"{raw}x.{exp}.{sig}") is None
    assert sessions.resolve(sessions.issue(acc, hours=-1)) is None              # expired
    assert sessions.revoke(token) and sessions.resolve(token) is None           # signed out
    other = sessions.issue(acc)
    accounts.set_active("sue", False)
    assert sessions.resolve(other) is None


def test_create_and_authenticate():
    org = accounts.create_user("olga", "organizer-pass", role="organizer")
    assert org.role == "organizer"
    assert accounts.authenticate("olga", "organizer-pass") == org
    assert accounts.authenticate("olga", "wrong-pass") is None
    assert accounts.authenticate("nobody", "organizer-pass") is None
    with pytest.raises(AccountError, match="already exists"):
        accounts.create_user("olga", "another-pass")
    assert [u.username for u in accounts.list_users("organizer")] == ["olga"]


def test_password_and_name_rules():
    with pytest.raises(AccountError, match="at least 8"):
        accounts.create_user("shorty", "short")
    with pytest.raises(AccountError, match="user name"):
        accounts.create_user("bad name!", "long-enough")
    with pytest.raises(AccountError, match="role"):
        accounts.create_user("rita", "long-enough", role="superuser")
    for hostile in ("ad\u202emin", "nul\0name", "zero\u200bwidth"):
        with pytest.raises(AccountError, match="control character U\\+"):
            accounts.create_user(hostile, "long-enough")


def test_stored_row_holds_no_password():
    from sqlalchemy import select

    from core.store.users_schema import User
    from core.store import session_scope

    accounts.create_user("rex", "plain-secret-1")
    with session_scope(write=False) as session:
        row = session.scalar(select(User).where(User.username == "rex"))
        assert "plain-secret-1" not in (row.password_hash or "")
        assert row.password_hash.startswith("$argon2id$")


def test_set_password_and_role():
    accounts.create_user("rosa", "first-pass")
    accounts.set_password("rosa", "second-pass")
    assert accounts.authenticate("rosa", "first-pass") is None
    assert accounts.authenticate("rosa", "second-pass") is not None
    assert accounts.set_role("rosa", "organizer").role == "organizer"


def test_oidc_account_is_created_once_as_reader():
    a = accounts.oidc_account("sub-123", username="jane@example.org")
    b = accounts.oidc_account("sub-123", username="jane@example.org")
    assert a == b and a.role == "reader"
    assert accounts.authenticate("jane@example.org", "") is None


def test_accounts_command(tmp_path, monkeypatch):
    env = {"SONODASH_HOME": str(tmp_path / "cli-home"), "PATH": "/usr/bin:/bin"}
    add = [sys.executable, "-m", "core", "accounts", "add", "boss", "--role", "organizer", "--password-stdin",
           "--json"]
    out = subprocess.run(add, input="organizer-pass\n", capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"role": "organizer"' in out.stdout and "organizer-pass" not in out.stdout
    again = subprocess.run(add, input="organizer-pass\n", capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    env2 = dict(env, SONODASH_PASSWORD="reader-pass-1")
    ok = subprocess.run([sys.executable, "-m", "core", "accounts", "add", "rd"], capture_output=True, text=True,
                        env=env2, timeout=120)
    assert ok.returncode == 0, ok.stderr
    monkeypatch.setenv("SONODASH_HOME", env["SONODASH_HOME"])
    from core.store import dispose_engines

    dispose_engines()
    assert accounts.authenticate("rd", "reader-pass-1").role == "reader"
    assert accounts.authenticate("boss", "organizer-pass").role == "organizer"
