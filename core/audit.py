"""The audit trail's public path: ``from core import audit; audit.record(actor, action, target, detail)``.

Why the code lives in :mod:`core.store.audit`: the trail is a table of the store, and the store's own
functions (model registration, saved cases) write to it, so it belongs to the store package; this module
keeps the name every caller uses.
"""

from core.store.audit import HEADER, MAX_QUERY, MAX_TEXT, AuditEntry, actions, query, record, to_csv

__all__ = ["HEADER", "MAX_QUERY", "MAX_TEXT", "AuditEntry", "actions", "query", "record", "to_csv"]
