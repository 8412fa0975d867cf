"""The bundle index: which model bundles exist on disk and which one a page uses by default for a task.

Why an index at all: the dashboard lists models without walking the disk, and a clinician's page must use the
bundle an administrator marked as default, not whichever folder sorted first.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select, update

from core.store._values import plain
from core.store.engine import session_scope
from core.store.errors import NotFoundError, StoreError
from core.store.schema import Bundle

BUNDLE_COLUMNS = ["id", "name", "path", "task", "arch", "class_names", "metrics", "is_default_for_task", "created"]


def _read_model_json(path: Path) -> dict:
    meta_file = path / "model.json"
    if not meta_file.is_file():
        raise StoreError(f"{path}: no model.json in the bundle folder and no meta given")
    try:
        return json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StoreError(f"{meta_file}: not readable JSON ({err})") from None


def _as_dict(row: Bundle) -> dict:
    return {col: getattr(row, col) for col in BUNDLE_COLUMNS}


def register_bundle(path, meta: dict | None = None) -> int:
    """Index the bundle folder ``path``; returns its id. Registering the same folder again updates it.

    ``meta`` is the bundle's model.json content (read from the folder when omitted); the keys used are
    ``task``, ``arch`` (or ``architecture``), ``class_names``, ``metrics`` and optionally ``name``.
    """
    folder = Path(path).expanduser().resolve()
    meta = dict(meta) if meta is not None else _read_model_json(folder)
    task = meta.get("task")
    if not task or not isinstance(task, str):
        raise StoreError(f"{folder}: bundle meta has no 'task'")
    fields = {
        "name": str(meta.get("name") or folder.name)[:200],
        "task": task,
        "arch": meta.get("arch") or meta.get("architecture"),
        "class_names": plain(list(meta.get("class_names") or meta.get("classes") or [])),
        "metrics": plain(dict(meta.get("metrics") or {})),
    }
    with session_scope() as session:
        row = session.scalars(select(Bundle).where(Bundle.path == str(folder))).one_or_none()
        if row is None:
            row = Bundle(path=str(folder), **fields)
            session.add(row)
        else:
            for key, value in fields.items():
                setattr(row, key, value)
        session.flush()
        return row.id


def get_bundle(bundle_id: int) -> dict:
    """One bundle's index entry as a dict."""
    with session_scope(write=False) as session:
        row = session.get(Bundle, int(bundle_id))
        if row is None:
            raise NotFoundError(f"bundle {bundle_id}: not in the store")
        return _as_dict(row)


def find_bundle(path) -> dict | None:
    """The index entry of the bundle folder ``path``, or None when it is not registered."""
    folder = str(Path(path).expanduser().resolve())
    with session_scope(write=False) as session:
        row = session.scalars(select(Bundle).where(Bundle.path == folder)).one_or_none()
        return None if row is None else _as_dict(row)


def list_bundles(task: str | None = None):
    """All registered bundles (optionally of one task), newest first, as a pandas DataFrame."""
    import pandas as pd

    query = select(Bundle).order_by(Bundle.created.desc(), Bundle.id.desc())
    if task is not None:
        query = query.where(Bundle.task == task)
    with session_scope(write=False) as session:
        rows = [_as_dict(r) for r in session.scalars(query)]
    return pd.DataFrame(rows, columns=BUNDLE_COLUMNS)


def set_default_bundle(task: str, bundle_id: int) -> None:
    """Make ``bundle_id`` the task's default (and no other bundle of that task)."""
    with session_scope() as session:
        row = session.get(Bundle, int(bundle_id))
        if row is None:
            raise NotFoundError(f"bundle {bundle_id}: not in the store")
        if row.task != task:
            raise StoreError(f"bundle {bundle_id} belongs to task {row.task!r}, not {task!r}")
        session.execute(update(Bundle).where(Bundle.task == task).values(is_default_for_task=False))
        row.is_default_for_task = True


def default_bundle(task: str) -> dict | None:
    """The task's default bundle as a dict, or None when none is marked."""
    with session_scope(write=False) as session:
        row = session.scalars(select(Bundle).where(Bundle.task == task, Bundle.is_default_for_task.is_(True))
                              ).first()
        return None if row is None else _as_dict(row)
