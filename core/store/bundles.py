"""The bundle index: which model bundles exist on disk and which one a page uses by default for a task.

Why an index at all: the dashboard lists models without walking the disk, and a clinician's page must use the
bundle an administrator marked as default, not whichever folder sorted first.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

from sqlalchemy import select, update

from core.errors import InputError
from core.models.meta import BundleMeta
from core.paths import sonodash_home
from core.store import audit
from core.store._values import plain
from core.store.engine import session_scope
from core.store.errors import NotFoundError, StoreError
from core.store.schema import Bundle, Evaluation, utcnow

BUNDLE_COLUMNS = ["id", "name", "path", "task", "arch", "class_names", "metrics", "is_default_for_task", "created",
                  "flag", "flag_reason", "deleted"]


class FlaggedModelError(StoreError):
    """Making a flagged ("not better than chance") model the default needs ``confirm=True``."""


def _audit(actor, action: str, target: str, detail: dict) -> None:
    """One audit row (DESIGN.md section 6: registration, default change and deletion of a model)."""
    audit.record(actor, action, target, detail)


def _read_model_json(path: Path) -> BundleMeta:
    meta_file = path / "model.json"
    if not meta_file.is_file():
        raise StoreError(f"{path}: no model.json in the bundle folder and no meta given")
    try:
        return BundleMeta.from_json(meta_file.read_text(encoding="utf-8"), where=str(meta_file))
    except (OSError, UnicodeDecodeError) as err:
        raise StoreError(f"{meta_file}: not readable ({err})") from None
    except InputError as err:                    # a BundleError: names the file and the key
        raise StoreError(str(err)) from None


def _index_fields(folder: Path, meta) -> dict:
    """The row's task, name, arch, class names and metrics: from the bundle's :class:`BundleMeta`, or from the
    plain index fields a caller gives for a folder that holds no model.json (``task``, ``arch``, ``name``)."""
    if isinstance(meta, BundleMeta):
        return {"task": meta.task, "name": meta.name, "arch": meta.architecture,
                "class_names": list(meta.class_names), "metrics": dict(meta.metrics)}
    given = dict(meta)
    return {"task": given.get("task"), "name": given.get("name"), "arch": given.get("arch"),
            "class_names": list(given.get("class_names") or []), "metrics": dict(given.get("metrics") or {})}


def _as_dict(row: Bundle) -> dict:
    return {col: getattr(row, col) for col in BUNDLE_COLUMNS}


def register_bundle(path, meta: BundleMeta | dict | None = None, *, actor: str | None = None) -> int:
    """Index the bundle folder ``path``; returns its id. Registering the same folder again updates it.

    ``meta`` is the bundle's :class:`core.models.meta.BundleMeta` (read from the folder's model.json when
    omitted; a model.json object is validated as one); for a folder without model.json, the plain index
    fields ``task``, ``arch``, ``class_names``, ``metrics`` and optionally ``name``.
    """
    folder = Path(path).expanduser().resolve()
    if meta is None:
        meta = _read_model_json(folder)
    elif not isinstance(meta, BundleMeta) and "architecture" in meta:
        meta = BundleMeta.from_json(meta, where=str(folder / "model.json"))
    index = _index_fields(folder, meta)
    task, metrics = index["task"], index["metrics"]
    if not task or not isinstance(task, str):
        raise StoreError(f"{folder}: bundle meta has no 'task'")
    fields = {
        "name": str(index["name"] or folder.name)[:200],
        "task": task,
        "arch": index["arch"],
        "class_names": plain(index["class_names"]),
        "metrics": plain(metrics),
        # The flag is decided when the run ends (core.training.metrics.flag_metrics), never guessed here.
        "flag": metrics.get("flag") or None,
        "flag_reason": metrics.get("flag_reason") or None,
        "deleted": None,
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
        bundle_id = row.id
    _audit(actor, "model.register", f"bundle:{bundle_id}",
           {"name": fields["name"], "task": task, "arch": fields["arch"], "flag": fields["flag"]})
    return bundle_id


def get_bundle(bundle_id: int) -> dict:  # deleted ones too: a deleted model's evaluations still name it
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


def list_bundles(task: str | None = None, *, include_deleted: bool = False):
    """All registered bundles (optionally of one task), newest first, as a pandas DataFrame; deleted models
    only with ``include_deleted``."""
    import pandas as pd

    query = select(Bundle).order_by(Bundle.created.desc(), Bundle.id.desc())
    if task is not None:
        query = query.where(Bundle.task == task)
    if not include_deleted:
        query = query.where(Bundle.deleted.is_(None))
    with session_scope(write=False) as session:
        rows = [_as_dict(r) for r in session.scalars(query)]
    return pd.DataFrame(rows, columns=BUNDLE_COLUMNS)


def set_default_bundle(task: str, bundle_id: int, *, confirm: bool = False, actor: str | None = None) -> None:
    """Make ``bundle_id`` the task's default (and no other bundle of that task).

    A flagged bundle ("not better than chance") raises :class:`FlaggedModelError` unless ``confirm``: a page
    must show the reason and ask before a useless model becomes what clinicians see.
    """
    with session_scope() as session:
        row = session.get(Bundle, int(bundle_id))
        if row is None or row.deleted is not None:
            raise NotFoundError(f"bundle {bundle_id}: not in the store")
        if row.task != task:
            raise StoreError(f"bundle {bundle_id} belongs to task {row.task!r}, not {task!r}")
        if row.flag and not confirm:
            raise FlaggedModelError(f"bundle {bundle_id} ({row.name}) is flagged {row.flag!r}: {row.flag_reason}; "
                                    f"confirm to make it the default for {task}")
        session.execute(update(Bundle).where(Bundle.task == task).values(is_default_for_task=False))
        row.is_default_for_task = True
        flag = row.flag
    _audit(actor, "model.set_default", f"bundle:{int(bundle_id)}",
           {"task": task, "flagged": bool(flag), "confirmed": bool(confirm)})


def delete_bundle(bundle_id: int, *, actor: str | None = None) -> dict:
    """Delete a model: it leaves every list and stops being a default; its evaluations stay (their rows keep the
    bundle id and read back with ``bundle_deleted`` True). The folder is removed only when it lies inside
    ``$SONODASH_HOME`` (what this app trained); a folder registered from elsewhere is the user's and stays.
    Returns ``{"id", "name", "files_removed", "evaluations_kept"}``.
    """
    with session_scope() as session:
        row = session.get(Bundle, int(bundle_id))
        if row is None or row.deleted is not None:
            raise NotFoundError(f"bundle {bundle_id}: not in the store")
        row.deleted = utcnow()
        row.is_default_for_task = False
        name, folder = row.name, Path(row.path)
        kept = len(session.scalars(select(Evaluation.id).where(Evaluation.bundle_id == row.id)).all())
    home = sonodash_home().resolve()
    removed = False
    try:
        inside = folder.resolve().is_relative_to(home)
    except OSError:
        inside = False
    if inside and folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder, ignore_errors=True)
        removed = True
    _audit(actor, "model.delete", f"bundle:{int(bundle_id)}",
           {"name": name, "files_removed": removed, "evaluations_kept": kept})
    return {"id": int(bundle_id), "name": name, "files_removed": removed, "evaluations_kept": kept}


def bundle_zip(bundle_id: int) -> bytes:
    """The bundle folder as a zip (model.json, model.safetensors, anything else in it; links are skipped)."""
    entry = get_bundle(bundle_id)
    folder = Path(entry["path"])
    if entry["deleted"] is not None or not (folder / "model.json").is_file():
        raise NotFoundError(f"bundle {bundle_id}: its folder {folder.name} is gone")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():   # weights barely compress: stored, JSON deflated
                zf.write(path, Path(folder.name) / path.relative_to(folder),
                         compress_type=zipfile.ZIP_STORED if path.suffix == ".safetensors" else zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def bundle_evaluations(bundle_id: int) -> list[str]:
    """Names of the stored evaluations of a bundle, newest first (the model card links them)."""
    with session_scope(write=False) as session:
        return list(session.scalars(select(Evaluation.name).where(Evaluation.bundle_id == int(bundle_id))
                                    .order_by(Evaluation.id.desc())))


def default_bundle(task: str) -> dict | None:
    """The task's default bundle as a dict, or None when none is marked."""
    with session_scope(write=False) as session:
        row = session.scalars(select(Bundle).where(Bundle.task == task, Bundle.is_default_for_task.is_(True),
                                                   Bundle.deleted.is_(None))).first()
        return None if row is None else _as_dict(row)
