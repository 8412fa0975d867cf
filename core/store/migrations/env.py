"""Alembic environment: runs on the connection handed over by core.store.migrate, or on a URL.

Why no logging setup here: SonoDash configures no logging on import, and a migration on first use must not
print anything into a command's JSON output.
"""

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from core.store.migrate import load_schema

config = context.config
target_metadata = load_schema()  # every table declared on the store's Base, the reader study's included


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER TABLE goes through batch mode
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=NullPool)
    with engine.connect() as conn:
        _run(conn)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
