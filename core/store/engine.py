"""Engine, sessions and first-use migration of the SonoDash store.

Why this module exists: every part of SonoDash (command line, dashboard workers, reader-study pages) writes
into one database, often from several processes at once. SQLite is the zero-setup default, so it must be
configured for concurrency on every connection: WAL journal (readers never block the writer), a busy timeout
(writers queue instead of failing), ``synchronous=FULL`` (a committed transaction survives a crash) and
``BEGIN IMMEDIATE`` for write sessions (a writer takes the write lock up front, where the busy timeout applies,
instead of failing with SQLITE_BUSY when it upgrades a read snapshot). ``SONODASH_DB_URL`` points the store at
PostgreSQL instead; the schema comes from the Alembic migrations in ``core/store/migrations`` in both cases.

>>> from core.store.engine import session_scope
>>> with session_scope() as session:          # doctest: +SKIP
...     session.add(obj)                       # committed atomically on exit, rolled back on error
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from core.paths import sonodash_home
from core.store.migrate import MIGRATIONS_DIR, upgrade  # noqa: F401 - MIGRATIONS_DIR kept importable here

DB_FILENAME = "sonodash.db"
BUSY_TIMEOUT_MS = 60_000
_IMMEDIATE = "sonodash_immediate"

_lock = threading.Lock()
_engines: dict[tuple[int, str], tuple[Engine, Engine]] = {}


def db_url() -> str:
    """The store's URL: ``$SONODASH_DB_URL`` if set, else the SQLite file under ``$SONODASH_HOME``."""
    url = os.environ.get("SONODASH_DB_URL", "").strip()
    if url:
        return url
    return f"sqlite:///{(sonodash_home() / DB_FILENAME).resolve()}"


def _is_memory(url) -> bool:
    return url.get_backend_name() == "sqlite" and (url.database in (None, "", ":memory:")
                                                   or "mode=memory" in str(url))


def _configure_sqlite(engine: Engine, *, memory: bool) -> None:
    """Per-connection pragmas and explicit BEGIN handling (see the module docstring for why)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # The driver must not open transactions on its own: we emit BEGIN ourselves in _on_begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not memory:
                mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _create(url_text: str) -> tuple[Engine, Engine]:
    url = make_url(url_text)
    kwargs: dict = {"future": True}
    if url.get_backend_name() == "sqlite":
        memory = _is_memory(url)
        if memory:
            from sqlalchemy.pool import StaticPool

            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            from sqlalchemy.pool import NullPool

            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # NullPool: a SQLite connection is cheap to open, and a process that touches many stores (tests,
            # one SONODASH_HOME per test) must not accumulate open files; it is also safe across fork.
            kwargs.update(poolclass=NullPool,
                          connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine, memory=memory)
        writer = engine.execution_options(**{_IMMEDIATE: True})
    else:
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
        writer = engine
    upgrade(writer)
    return engine, writer


def _engines_for(url: str | None) -> tuple[Engine, Engine]:
    """Engines are cached per URL *and process*: a forked child must never reuse its parent's connections."""
    url = url or db_url()
    key = (os.getpid(), url)
    with _lock:
        pair = _engines.get(key)
        if pair is None:
            pair = _create(url)
            _engines[key] = pair
        return pair


def get_engine(url: str | None = None) -> Engine:
    """The process's engine for ``url`` (default :func:`db_url`), migrated to the newest schema on first use."""
    return _engines_for(url)[0]


def dispose_engines() -> None:
    """Close every cached engine of this process (tests, or after changing ``SONODASH_HOME``)."""
    with _lock:
        for key in [k for k in _engines if k[0] == os.getpid()]:
            engine, _ = _engines.pop(key)
            engine.dispose()


@contextmanager
def session_scope(*, url: str | None = None, write: bool = True) -> Iterator[Session]:
    """A session whose work is committed atomically when the block ends, or rolled back on an exception.

    ``write=False`` opens a plain read transaction (SQLite: a WAL snapshot that blocks nobody).
    """
    engine, writer = _engines_for(url)
    with Session(writer if write else engine, expire_on_commit=False) as session:
        with session.begin():
            yield session
