"""The SonoDash store: runs, model bundles, evaluations with per-case predictions, clinician-saved cases.

Why one package: the command line, the dashboard's worker processes and scripts all read and write the same
database, so the engine setup (SQLite WAL + busy timeout, or PostgreSQL through ``SONODASH_DB_URL``), the
schema (Alembic migrations, applied on first use) and the access functions live in one place. Functions take
and return plain values and pandas DataFrames; no ORM object leaves the package.
"""

from core.store.bundles import (FlaggedModelError, bundle_evaluations, bundle_zip, default_bundle, delete_bundle,
                                find_bundle, get_bundle, list_bundles, register_bundle, set_default_bundle)
from core.store.cases import list_cases, save_case
from core.store.engine import db_url, dispose_engines, get_engine, session_scope
from core.store.errors import NotFoundError, StoreError
from core.store.evaluations import (append_predictions, delete_evaluation, list_evaluations, load_evaluation,
                                    save_evaluation)
from core.store.runs import get_run, list_runs, register_run, update_run

__all__ = [
    "FlaggedModelError", "NotFoundError", "StoreError", "append_predictions", "bundle_evaluations", "bundle_zip",
    "delete_bundle", "db_url", "default_bundle", "delete_evaluation",
    "dispose_engines", "find_bundle", "get_bundle", "get_engine", "get_run", "list_bundles", "list_cases",
    "list_evaluations", "list_runs", "load_evaluation", "register_bundle", "register_run", "save_case",
    "save_evaluation", "session_scope", "set_default_bundle", "update_run",
]
