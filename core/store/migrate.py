"""Schema migrations, applied programmatically on first use of an engine.

Why programmatic: users never run ``alembic upgrade`` by hand; the first SonoDash process that opens a store
brings it to the newest schema. The whole upgrade runs in one transaction that holds the write lock (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock, DDL being transactional there), so ten
processes opening a fresh store at once migrate it exactly once and the others find it already at head.

Adding tables (e.g. the reader study): declare them on :data:`core.store.schema.Base` in a module listed in
:data:`SCHEMA_MODULES`, and add a revision file in ``core/store/migrations/versions/`` whose ``down_revision``
is a current head (``tests/test_store.py`` checks that the migrations and the declared tables agree).
Independent features may branch from the same revision: every head is applied (``heads``), and a later merge
revision may join them.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

from core.store.schema import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_KEY = 0x50D0DA5  # any constant shared by every SonoDash process
SCHEMA_MODULES = ("core.store.schema", "core.store.users_schema", "core.reader_study.schema")


def load_schema():
    """Import every module that declares tables; returns the shared metadata (for autogenerate and checks)."""
    for name in SCHEMA_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:  # the module exists but something it imports does not
                raise
    return Base.metadata


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the package's migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> tuple[str, ...]:
    """The newest revisions in the package (one per branch; usually one), sorted."""
    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def current_revision(engine: Engine) -> tuple[str, ...]:
    """The revisions the database is at, sorted (empty for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the database behind ``engine`` to ``revision`` inside one locked transaction."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
