"""Accounts: scrypt hashes with per-user salt, authentication, roles, the accounts command."""

import hashlib
import subprocess
import sys

import pytest

from core import accounts
from core.accounts import AccountError


def test_hash_is_salted_scrypt_with_the_required_parameters():
    h1, h2 = accounts.hash_password("correct horse"), accounts.hash_password("correct horse")
    assert h1 != h2  # a fresh salt every time
    scheme, n, r, p, salt, key = h1.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2 ** 14), "8", "1")
    import base64

    expected = hashlib.scrypt(b"correct horse", salt=base64.b64decode(salt), n=2 ** 14, r=8, p=1, dklen=32)
    assert base64.b64decode(key) == expected
    assert "correct horse" not in h1
    assert accounts.verify_password("correct horse", h1)
    assert not accounts.verify_password("correct horsf", h1)
    assert not accounts.verify_password("correct horse", "garbage")
    assert not accounts.verify_password("correct horse", None)


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
        accounts.create_user("rita", "long-enough", role="admin")


def test_stored_row_holds_no_password():
    from sqlalchemy import select

    from core.reader_study.schema import User
    from core.store import session_scope

    accounts.create_user("rex", "plain-secret-1")
    with session_scope(write=False) as session:
        row = session.scalar(select(User).where(User.username == "rex"))
        assert "plain-secret-1" not in (row.password_hash or "")
        assert row.password_hash.startswith("scrypt$")


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
