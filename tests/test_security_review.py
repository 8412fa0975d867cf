"""Security review, enforced (issue 10 item 6): what a reviewer checked once, checked on every run.

- No code execution from data: no ``eval``/``exec``, no pickle/marshal/shelve/dill loads, ``torch.load`` only
  with ``weights_only=True``, no ``allow_pickle=True``, no ``yaml.load``/``unsafe_load``, no ``shell=True``
  or ``os.system``. Checked on the syntax tree of every module in core/, dashboard/, pages/ and scripts/
  (so documentation that *mentions* torch.load does not count, and code cannot hide behind formatting).
- Streamlit: XSRF protection on, an upload limit set deliberately (not above the gate's file limit), no
  error details or tracebacks in the browser.
- No secrets tracked by git: no key/token files by name, no private-key blocks or well-known token formats
  in any tracked text file.
- Passwords only as slow salted hashes (core/accounts.py): Argon2id (RFC 9106 low-memory profile or stronger) and a fresh random salt,
  constant-time verification; the hash never contains the password.
- User-supplied file names are escaped in the downloadable HTML case report.
"""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("core", "dashboard", "pages", "scripts")
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib", "jsonpickle"}
PICKLE_FUNCS = {"load", "loads", "Unpickler", "open"}


def _python_files() -> list[Path]:
    return sorted(p for d in SCANNED if (ROOT / d).is_dir() for p in (ROOT / d).rglob("*.py")
                  if ".venv" not in p.parts and "__pycache__" not in p.parts)


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _is_true(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def findings_in(source: str, filename: str = "<src>") -> list[str]:
    """Dangerous calls and imports in one module's source, as 'file:line: what' strings."""
    tree = ast.parse(source, filename)
    found = []

    def report(node, what):
        found.append(f"{filename}:{node.lineno}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PICKLE_MODULES - {"joblib"}:
                    report(node, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in PICKLE_MODULES - {"joblib"}:
                report(node, f"from {node.module} import ...")
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        last = name.rsplit(".", 1)[-1]
        head = name.split(".", 1)[0]
        if isinstance(node.func, ast.Name) and name in ("eval", "exec"):
            report(node, f"{name}()")
        elif isinstance(node.func, ast.Name) and name == "__import__" and not (
                node.args and isinstance(node.args[0], ast.Constant)):
            report(node, "__import__() of a computed name")
        elif head in PICKLE_MODULES and last in PICKLE_FUNCS:
            report(node, f"{name}()")
        elif name in ("torch.load",) or (last == "load" and head == "torch"):
            if not _is_true(_keyword(node, "weights_only")):
                report(node, "torch.load without weights_only=True")
        elif name in ("yaml.load", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all"):
            report(node, f"{name}() (use yaml.safe_load)")
        elif name in ("os.system", "os.popen", "commands.getoutput"):
            report(node, f"{name}()")
        if _is_true(_keyword(node, "allow_pickle")):
            report(node, "allow_pickle=True")
        if _is_true(_keyword(node, "shell")):
            report(node, "shell=True")
    return found


@pytest.mark.parametrize("snippet, expected", [
    ("eval(user)", "eval()"),
    ("exec(code)", "exec()"),
    ("import pickle\npickle.loads(b)", "import pickle"),
    ("import torch\ntorch.load(p)", "torch.load without weights_only=True"),
    ("import torch\ntorch.load(p, weights_only=False)", "torch.load without weights_only=True"),
    ("import numpy as np\nnp.load(p, allow_pickle=True)", "allow_pickle=True"),
    ("import yaml\nyaml.load(s)", "yaml.load() (use yaml.safe_load)"),
    ("import subprocess\nsubprocess.run(cmd, shell=True)", "shell=True"),
    ("import os\nos.system(cmd)", "os.system()"),
])
def test_the_scanner_finds_each_pattern(snippet, expected):
    assert any(f.endswith(expected) for f in findings_in(snippet)), findings_in(snippet)


@pytest.mark.parametrize("snippet", [
    "model.eval()", "torch.load(p, weights_only=True)", "yaml.safe_load(s)", "'''eval(x) and torch.load(p)'''",
    "np.load(p, allow_pickle=False)", "json.loads(s)", "net.train().eval()",
])
def test_the_scanner_accepts_safe_code(snippet):
    assert findings_in(snippet) == []


def test_no_code_execution_from_data_in_the_code_base():
    files = _python_files()
    assert len(files) > 20
    found = [f for p in files for f in findings_in(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    assert found == []


# --------------------------------------------------------------------------------------- Streamlit config
def test_streamlit_config_protects_the_browser():
    from core.io import GateLimits

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    server, client = config.get("server", {}), config.get("client", {})
    assert server.get("enableXsrfProtection") is True
    assert server.get("enableCORS", True) is True          # CORS protection on (Streamlit's default)
    upload_mb = server.get("maxUploadSize")
    assert isinstance(upload_mb, int) and 0 < upload_mb <= GateLimits().max_file_bytes // (1024 * 1024)
    assert client.get("showErrorDetails") in ("none", False, "stacktrace_hidden") or \
        str(client.get("showErrorDetails")).lower() == "none"
    assert config.get("browser", {}).get("gatherUsageStats") is False


# ------------------------------------------------------------------------------------------- secrets
SECRET_NAMES = re.compile(r"(^|/)(id_(rsa|dsa|ecdsa|ed25519)|.*\.(pem|key|p12|pfx|jks|keystore|ppk)|\.env(\..*)?|"
                          r"\.netrc|\.pgpass|credentials(\.json)?|secrets?\.(toml|json|ya?ml)|"
                          r"service[-_]account.*\.json)$", re.IGNORECASE)
SECRET_CONTENT = [
    ("private key block", re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY"
                                     r"(?: BLOCK)?-----")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("GitHub fine-grained token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("OpenAI-style key", re.compile(r"\bsk-[A-Za-z0-9]{32,}\b")),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("password in a URL", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s:@'\"{}$<>]{3,}@(?!localhost\b)"
                                     r"[A-Za-z0-9.-]+")),
]


def _tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [p for p in out.stdout.decode("utf-8", "replace").split("\0") if p]


def test_scanner_patterns_catch_samples():
    key_header = "-----BEGIN " + "RSA PRIVATE KEY-----"
    samples = {"private key block": key_header, "AWS access key": "AKIA" + "ABCDEFGHIJKLMNOP",
               "GitHub token": "ghp_" + "a" * 36, "password in a URL": "postgresql://user:" + "hunter2@db.example.org/x"}
    for label, pattern in SECRET_CONTENT:
        if label in samples:
            assert pattern.search(samples[label]), label
    assert SECRET_NAMES.search("deploy/id_rsa") and SECRET_NAMES.search("config/.env")
    assert not SECRET_NAMES.search("core/io/deid.py") and not SECRET_NAMES.search("sample_data/miscarriage/a.png")


def test_no_secrets_are_tracked_by_git():
    files = _tracked_files()
    assert [f for f in files if SECRET_NAMES.search(f)] == []
    found = []
    for rel in files:
        path = ROOT / rel
        if not path.is_file() or path.stat().st_size > 2 * 1024 * 1024:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (images, DICOM, weights)
        text = data.decode("utf-8", "replace")
        found += [f"{rel}: {label}" for label, pattern in SECRET_CONTENT if pattern.search(text)]
    assert found == []


def test_state_folder_and_salt_are_not_tracked():
    files = _tracked_files()
    assert [f for f in files if f.startswith("var/") or "/secrets/" in f or f.endswith("deid_salt")] == []


# ----------------------------------------------------------------------------------------- passwords
def test_passwords_are_stored_only_as_slow_salted_hashes():
    accounts = pytest.importorskip("core.accounts")
    password = "correct horse battery"
    first, second = accounts.hash_password(password), accounts.hash_password(password)
    assert first != second                                   # a fresh salt every time
    from argon2 import extract_parameters, Type

    params = extract_parameters(first)                       # Argon2id, at least RFC 9106's low-memory profile
    assert params.type is Type.ID and params.memory_cost >= 65536 and params.time_cost >= 3
    assert params.salt_len >= 16 and params.hash_len >= 32
    assert password not in first and password.encode().hex() not in first
    assert accounts.verify_password(password, first) and not accounts.verify_password(password + "!", first)
    assert not accounts.verify_password(password, "plain$" + password)
    source = (ROOT / "core" / "passwords.py").read_text(encoding="utf-8")   # the hashing of core.accounts
    assert "compare_digest" in source
    assert not re.search(r"hashlib\.(md5|sha1|sha224|sha256|sha512)\(\s*password", source)


# --------------------------------------------------------------------------------------- case report
def test_case_report_escapes_user_supplied_file_names():
    import numpy as np

    from core.case_report import case_report_html
    from core.pipeline import analyze

    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>.png'
    analysis = analyze([np.full((24, 24), 120, np.uint8)], {"ga_weeks": 7})
    analysis.images[0].name = hostile
    page = case_report_html(analysis, study="miscarriage", decision=None, note="<b>note</b>", clinical={})
    assert "<script>" not in page and "onerror=alert" not in page.replace("onerror=alert(2)&gt;", "")
    assert "&lt;script&gt;" in page and "&lt;b&gt;note" in page
