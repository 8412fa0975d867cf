"""Where the PACS is and how far SonoDash trusts it, from the environment.

Why environment variables: the site's IT sets them once for the dashboard process (DESIGN.md section 6,
``SONODASH_DICOMWEB_URL`` + credentials), and credentials then never appear on a page, in the store or in a
log. Every limit has a safe default, and each can be tightened per site.

| variable | meaning |
| --- | --- |
| ``SONODASH_DICOMWEB_URL`` | DICOMweb root, e.g. ``http://127.0.0.1:8042/dicom-web`` (unset: no PACS) |
| ``SONODASH_DICOMWEB_USER`` / ``SONODASH_DICOMWEB_PASSWORD`` | HTTP basic authentication |
| ``SONODASH_DICOMWEB_TOKEN`` | bearer token (instead of user and password) |
| ``SONODASH_DICOMWEB_TIMEOUT`` | seconds to wait for an answer (default 30) |
| ``SONODASH_DICOMWEB_MAX_INSTANCES`` | instances a retrieved study may hold (default 500) |
| ``SONODASH_DICOMWEB_MAX_STUDY_MB`` | bytes a retrieved study may take, counted while streaming (default 1024) |
| ``SONODASH_DICOMWEB_SR_TARGET`` | ``deidentified`` (default) or ``original``: which study results are written to |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from core.errors import InputError

MB = 1024 * 1024
SR_TARGETS = ("deidentified", "original")


class PacsError(InputError):
    """A PACS operation refused or failed; ``str(err)`` is one line saying what happened and what to check."""


def redact_url(url: str) -> str:
    """The URL without any ``user:password@`` part (for messages)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    except ValueError:
        return "(malformed URL)"


def _number(env, key: str, default, kind=float, minimum=0):
    raw = env.get(key)
    if raw in (None, ""):
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise PacsError(f"{key}={raw!r} is not a number") from None
    if value <= minimum:
        raise PacsError(f"{key} must be greater than {minimum}, got {raw}")
    return value


@dataclass(frozen=True)
class PacsConfig:
    """One DICOMweb server and the limits applied to what it sends."""

    url: str
    username: str | None = None
    password: str | None = None
    token: str | None = None
    timeout_s: float = 30.0
    max_instances: int = 500
    max_study_bytes: int = 1024 * MB
    max_query_results: int = 200
    max_json_bytes: int = 20 * MB
    transfer_deadline_s: float = 600.0
    sr_target: str = "deidentified"

    def __post_init__(self):
        parts = urlsplit(self.url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PacsError(f"SONODASH_DICOMWEB_URL must be an http(s) URL such as "
                            f"http://127.0.0.1:8042/dicom-web, got {redact_url(self.url or '')!r}")
        if self.sr_target not in SR_TARGETS:
            raise PacsError(f"SONODASH_DICOMWEB_SR_TARGET must be one of {', '.join(SR_TARGETS)}, got "
                            f"{self.sr_target!r}")

    @property
    def shown_url(self) -> str:
        return redact_url(self.url)

    @classmethod
    def from_env(cls, env=None) -> "PacsConfig | None":
        """The configuration from the environment, or None when ``SONODASH_DICOMWEB_URL`` is unset."""
        env = os.environ if env is None else env
        url = (env.get("SONODASH_DICOMWEB_URL") or "").strip()
        if not url:
            return None
        return cls(url=url.rstrip("/"), username=env.get("SONODASH_DICOMWEB_USER") or None,
                   password=env.get("SONODASH_DICOMWEB_PASSWORD") or None,
                   token=env.get("SONODASH_DICOMWEB_TOKEN") or None,
                   timeout_s=_number(env, "SONODASH_DICOMWEB_TIMEOUT", 30.0),
                   max_instances=_number(env, "SONODASH_DICOMWEB_MAX_INSTANCES", 500, int),
                   max_study_bytes=int(_number(env, "SONODASH_DICOMWEB_MAX_STUDY_MB", 1024.0) * MB),
                   sr_target=(env.get("SONODASH_DICOMWEB_SR_TARGET") or "deidentified").strip().lower())


def configured() -> bool:
    """True when a PACS is configured (the Analyze page shows its PACS source only then)."""
    return bool((os.environ.get("SONODASH_DICOMWEB_URL") or "").strip())


def require_config(config: PacsConfig | None = None) -> PacsConfig:
    config = config or PacsConfig.from_env()
    if config is None:
        raise PacsError("no PACS configured: set SONODASH_DICOMWEB_URL to the DICOMweb root "
                        "(e.g. http://127.0.0.1:8042/dicom-web)")
    return config
