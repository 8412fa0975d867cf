"""Alembic migrations of the SonoDash store (applied by :func:`core.store.migrate.upgrade`)."""
