"""The audit trail: one append-only row per security-relevant action (who, when, what, on which target).

Why a table in the store and not a log file: an organizer or admin must be able to filter and export the
trail from the dashboard, every process (CLI, dashboard workers) writes to the same place, and the database
refuses UPDATE and DELETE on it (triggers in migration 0003a), so history cannot be rewritten quietly.

What goes in: sign-ins and their failures, account changes, analyses, overrides, saved cases, model
registration / default changes / deletions, study changes and exports. What never goes in: patient
identifiers. ``detail`` is scrubbed of keys that name a patient (``patient_id``, ``birth_date``, ...) and of
DICOM-style person names before it is stored, and long strings are cut, so a careless caller cannot leak a
whole record into the trail.

>>> from core import audit
>>> audit.record("alice", "study.create", "study:3", {"cases": 12})      # doctest: +SKIP
>>> [e.action for e in audit.query(actor="alice")]                      # doctest: +SKIP
['study.create']
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select

from core.errors import InputError
from core.store.engine import session_scope
from core.store.users_schema import AuditEvent
from core.text_safety import to_csv as _to_csv

MAX_TEXT = 500
MAX_QUERY = 100_000
# A detail key containing any of these names a patient and is dropped (case-insensitive substring match).
_IDENTIFYING_KEYS = ("patient", "birth", "dob", "mrn", "accession", "ssn", "address", "phone", "email",
                     "person", "physician", "operator", "institution", "studyinstanceuid", "sopinstanceuid")
HEADER = ("id", "at", "actor", "action", "target", "detail")


@dataclass(frozen=True)
class AuditEntry:
    """One row of the trail as callers see it."""

    id: int
    at: datetime
    actor: str | None
    action: str
    target: str
    detail: dict


def _clean_text(value, limit: int = MAX_TEXT) -> str:
    """Printable text without NUL/control characters, cut to ``limit`` characters."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    return text[:limit]


def _scrub(value, depth: int = 0):
    """A JSON-safe copy of ``value`` without identifying keys (see module docstring)."""
    if depth > 5:
        return "…"
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            k = _clean_text(key, 100)
            if any(word in k.lower().replace("_", "") for word in _IDENTIFYING_KEYS):
                continue
            out[k] = _scrub(item, depth + 1)
        return out
    if isinstance(value, (list, tuple, set)):
        return [_scrub(v, depth + 1) for v in list(value)[:100]]
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return _clean_text(value)


def record(actor: str | None, action: str, target: str = "", detail: dict | None = None) -> None:
    """Append one row to the trail (committed on return).

    ``actor`` is a user name (None for the system or an anonymous client); ``action`` a dotted verb such as
    ``auth.sign_in`` or ``study.close``; ``target`` what it acted on (``study:3``, ``bundle:/path``);
    ``detail`` any small JSON-able dict (identifying keys are dropped). Raises InputError for an empty action.
    """
    verb = _clean_text(action or "", 100).strip()
    if not verb:
        raise InputError("audit: an action name is required")
    row = AuditEvent(actor=None if actor is None else _clean_text(actor, 100), action=verb,
                     target=_clean_text(target or ""), detail=_scrub(dict(detail or {})),
                     at=datetime.now(timezone.utc))
    json.dumps(row.detail)  # scrubbed values are JSON-safe; fail here rather than inside the driver
    with session_scope() as session:
        session.add(row)


def query(*, actor: str | None = None, action: str | None = None, target: str | None = None,
          since: datetime | None = None, until: datetime | None = None, limit: int = 1000,
          newest_first: bool = True) -> list[AuditEntry]:
    """Rows matching every given filter.

    ``action`` ending in ``.`` or ``*`` matches a prefix (``"auth."`` = every sign-in event); ``target``
    matches a substring; ``since``/``until`` bound ``at`` (inclusive, UTC when naive). At most ``limit`` rows.
    """
    if not isinstance(limit, int) or not 0 < limit <= MAX_QUERY:
        raise InputError(f"audit query: limit {limit!r} must be 1..{MAX_QUERY}")
    stmt = select(AuditEvent)
    if actor is not None:
        stmt = stmt.where(AuditEvent.actor == actor)
    if action:
        if action.endswith(("*", ".")):
            stmt = stmt.where(AuditEvent.action.startswith(action.rstrip("*"), autoescape=True))
        else:
            stmt = stmt.where(AuditEvent.action == action)
    if target:
        stmt = stmt.where(AuditEvent.target.contains(target, autoescape=True))
    for bound, op in ((since, "ge"), (until, "le")):
        if bound is not None:
            when = bound if bound.tzinfo else bound.replace(tzinfo=timezone.utc)
            stmt = stmt.where(AuditEvent.at >= when if op == "ge" else AuditEvent.at <= when)
    order = (AuditEvent.at.desc(), AuditEvent.id.desc()) if newest_first else (AuditEvent.at, AuditEvent.id)
    stmt = stmt.order_by(*order).limit(limit)
    with session_scope(write=False) as session:
        return [AuditEntry(id=r.id, at=r.at, actor=r.actor, action=r.action, target=r.target,
                           detail=dict(r.detail or {})) for r in session.scalars(stmt)]


def actions() -> list[str]:
    """Every distinct action name in the trail (for a filter widget)."""
    with session_scope(write=False) as session:
        return sorted(session.scalars(select(AuditEvent.action).distinct()))


def to_csv(entries: list[AuditEntry]) -> str:
    """The entries as CSV (cells escaped against spreadsheet formulas; detail as compact JSON)."""
    rows = ([e.id, e.at.isoformat(), e.actor or "", e.action, e.target,
             json.dumps(e.detail, sort_keys=True, separators=(",", ":"))] for e in entries)
    return _to_csv(HEADER, rows)
