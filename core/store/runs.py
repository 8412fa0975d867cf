"""Training runs in the store: a run is registered when it starts and updated when it ends or fails.

Why: the dashboard's training page lists running, finished and failed runs of every worker process, and a
run killed mid-way stays visible as "running" with its folder, so the user can ``--resume`` it.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from core.store._values import plain
from core.store.engine import session_scope
from core.store.errors import NotFoundError, StoreError
from core.store.schema import Run

RUN_STATUSES = ("running", "finished", "failed", "cancelled")
RUN_COLUMNS = ["id", "task", "arch", "cv", "status", "run_dir", "bundle_id", "error", "meta", "created", "updated"]


def _check_status(status: str) -> str:
    if status not in RUN_STATUSES:
        raise StoreError(f"run status {status!r}: must be one of {', '.join(RUN_STATUSES)}")
    return status


def register_run(*, task: str, arch: str, run_dir, cv: str | None = None, status: str = "running",
                 meta: dict | None = None) -> int:
    """Record a run that is starting; returns its id."""
    with session_scope() as session:
        row = Run(task=task, arch=arch, cv=cv, status=_check_status(status),
                  run_dir=str(Path(run_dir).expanduser().resolve()), meta=plain(dict(meta or {})))
        session.add(row)
        session.flush()
        return row.id


def update_run(run_id: int, *, status: str | None = None, bundle_id: int | None = None,
               error: str | None = None, meta: dict | None = None) -> None:
    """Change a run's status / bundle / error; ``meta`` keys are merged into the stored meta."""
    with session_scope() as session:
        row = session.get(Run, int(run_id))
        if row is None:
            raise NotFoundError(f"run {run_id}: not in the store")
        if status is not None:
            row.status = _check_status(status)
        if bundle_id is not None:
            row.bundle_id = int(bundle_id)
        if error is not None:
            row.error = str(error)
        if meta:
            row.meta = {**(row.meta or {}), **plain(dict(meta))}


def get_run(run_id: int) -> dict:
    with session_scope(write=False) as session:
        row = session.get(Run, int(run_id))
        if row is None:
            raise NotFoundError(f"run {run_id}: not in the store")
        return {col: getattr(row, col) for col in RUN_COLUMNS}


def list_runs(task: str | None = None):
    """All runs (optionally of one task), newest first, as a pandas DataFrame."""
    import pandas as pd

    query = select(Run).order_by(Run.id.desc())
    if task is not None:
        query = query.where(Run.task == task)
    with session_scope(write=False) as session:
        rows = [{col: getattr(r, col) for col in RUN_COLUMNS} for r in session.scalars(query)]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)
