"""The HTTP side of the PACS connection: a dicomweb-client with byte limits and one-line errors.

Why a bounded session: a PACS answer is as untrusted as an upload. dicomweb-client reads whole responses
into memory, so every GET goes through :class:`BoundedSession`, which always streams and counts the decoded
bytes as they arrive: a response declaring more than its budget is refused before its body is read, one that
streams more is cut off at the budget, and a transfer slower than the deadline is abandoned (a server that
drips one byte every few seconds can never stall the page). dicomweb-client's own retries are off for the
same reason: a refused connection is reported at once, not after half a minute of back-off.

:func:`pacs_errors` turns every failure (connection refused, timeout, 401/403, 404, 5xx, a body that is not
DICOM or not DICOM JSON, a budget exceeded) into one :class:`PacsError` line naming what to check. Messages
never quote a response body or a URL's credentials.
"""

from __future__ import annotations

import contextlib
import json
import time

import requests

from core.pacs.config import MB, PacsConfig, PacsError


class BudgetExceeded(PacsError):
    """A response larger than the bytes allowed for it."""


class BoundedSession(requests.Session):
    """A requests session whose responses are streamed through a byte budget and a wall-clock deadline.

    ``limit(n_bytes, what)`` sets the budget for the transfers inside the ``with`` block; outside one, a
    default budget (``default_bytes``) applies per response.
    """

    def __init__(self, *, default_bytes: int, deadline_s: float) -> None:
        super().__init__()
        self.default_bytes = int(default_bytes)
        self.deadline_s = float(deadline_s)
        self._budget: list | None = None      # [remaining bytes, what, limit]
        self.last_content_type = ""

    @contextlib.contextmanager
    def limit(self, n_bytes: int, what: str):
        previous = self._budget
        self._budget = [int(n_bytes), what, int(n_bytes)]
        try:
            yield self._budget
        finally:
            self._budget = previous

    def request(self, method, url, *args, **kwargs):
        wants_stream = bool(kwargs.get("stream"))
        kwargs["stream"] = True
        response = super().request(method, url, *args, **kwargs)
        self.last_content_type = response.headers.get("Content-Type", "")
        budget = self._budget if self._budget is not None else [self.default_bytes, "the answer", self.default_bytes]
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and not response.headers.get("Content-Encoding"):
            if int(declared) > budget[0]:
                response.close()
                raise BudgetExceeded(_too_large(budget, int(declared), declared_only=True))
        original = response.iter_content
        deadline = time.monotonic() + self.deadline_s

        def counted(chunk_size=1, decode_unicode=False):
            for chunk in original(chunk_size=max(int(chunk_size or 1), 64 * 1024), decode_unicode=decode_unicode):
                budget[0] -= len(chunk)
                if budget[0] < 0:
                    response.close()
                    raise BudgetExceeded(_too_large(budget, None))
                if time.monotonic() > deadline:
                    response.close()
                    raise PacsError(f"the PACS transfer took longer than {self.deadline_s:.0f} s; stopped")
                yield chunk

        response.iter_content = counted
        if not wants_stream and method.upper() != "HEAD":
            response.content  # noqa: B018 - read now, through the budget
        return response


def _too_large(budget, declared, declared_only=False) -> str:
    remaining, what, limit = budget
    size = f"{declared / MB:.1f} MB declared" if declared_only else f"more than {limit / MB:.1f} MB"
    return f"{what} is too large ({size}; limit {limit / MB:.1f} MB); nothing was stored"


def connect(config: PacsConfig):
    """A dicomweb-client for the configured server, with authentication, timeouts, limits and no retries."""
    import logging

    from dicomweb_client import DICOMwebClient

    # dicomweb-client logs UIDs at INFO and retrying logs every failed attempt: neither belongs in our logs.
    logging.getLogger("dicomweb_client").setLevel(logging.WARNING)
    logging.getLogger("retrying").setLevel(logging.CRITICAL)

    session = BoundedSession(default_bytes=config.max_json_bytes, deadline_s=config.transfer_deadline_s)
    headers = {}
    if config.token:
        headers["Authorization"] = f"Bearer {config.token}"
    elif config.username:
        session.auth = (config.username, config.password or "")
    session.headers["User-Agent"] = "SonoDash"
    try:
        client = DICOMwebClient(config.url, session=session, headers=headers or None,
                                timeout=(min(10.0, config.timeout_s), config.timeout_s))
    except ValueError:
        raise PacsError(f"SONODASH_DICOMWEB_URL {config.shown_url!r} is not a usable DICOMweb URL") from None
    client.set_http_retry_params(retry=False)
    client.bounded_session = session     # retrieval sets per-instance byte budgets on it
    return client


def _media(content_type: str) -> str:
    return (content_type or "no content type").split(";")[0].strip() or "no content type"


@contextlib.contextmanager
def pacs_errors(config: PacsConfig, action: str, client=None):
    """Translate any failure inside the block into one PacsError line: ``"<action>: <what happened>"``."""
    where = config.shown_url
    try:
        yield
    except PacsError as err:
        raise PacsError(f"{action}: {err}") from None
    except requests.exceptions.HTTPError as err:
        status = err.response.status_code if err.response is not None else 0
        if status in (401, 403):
            hint = ("check SONODASH_DICOMWEB_USER / SONODASH_DICOMWEB_PASSWORD or SONODASH_DICOMWEB_TOKEN"
                    if status == 401 else "the account may not read or write this study")
            raise PacsError(f"{action}: the PACS at {where} refused access (HTTP {status}); {hint}") from None
        if status == 404:
            raise PacsError(f"{action}: the PACS at {where} has no such object (HTTP 404); "
                            f"is SONODASH_DICOMWEB_URL the DICOMweb root?") from None
        if status == 413:
            raise PacsError(f"{action}: the PACS refused the upload as too large (HTTP 413)") from None
        raise PacsError(f"{action}: the PACS at {where} answered HTTP {status}") from None
    except requests.exceptions.SSLError:
        raise PacsError(f"{action}: TLS handshake with {where} failed (certificate?)") from None
    except (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout, TimeoutError):
        raise PacsError(f"{action}: the PACS at {where} did not answer within {config.timeout_s:.0f} s") from None
    except requests.exceptions.ConnectionError:
        raise PacsError(f"{action}: cannot reach the PACS at {where} (connection failed); is it running and "
                        f"is SONODASH_DICOMWEB_URL right?") from None
    except (json.JSONDecodeError, requests.exceptions.JSONDecodeError):
        media = _media(getattr(getattr(client, "_session", None), "last_content_type", ""))
        raise PacsError(f"{action}: the PACS answered {media}, not DICOM JSON; is SONODASH_DICOMWEB_URL the "
                        f"DICOMweb root?") from None
    except requests.exceptions.RequestException as err:
        raise PacsError(f"{action}: request to {where} failed ({type(err).__name__})") from None
    except Exception as err:  # noqa: BLE001 - parsing a hostile answer fails in many ways (dicomweb-client, pydicom)
        full = getattr(getattr(client, "_session", None), "last_content_type", "") or ""
        media = _media(full)
        if "application/dicom" not in full.lower() or "json" in media.lower():
            raise PacsError(f"{action}: the PACS answered {media} instead of DICOM; nothing was stored") from None
        raise PacsError(f"{action}: the PACS answer is not readable DICOM ({type(err).__name__}); "
                        f"nothing was stored") from None
