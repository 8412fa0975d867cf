"""Saving and loading evaluations: per-case predictions, never statistics (DESIGN.md section 3).

Why per-case only: ROC curves, CIs, subgroup tables and tests are recomputed from these rows whenever they
are shown, so a metric added later applies to every old evaluation and nobody can store a number that the
cases do not support. One evaluation (its row and all its predictions) is written in one transaction: a
crash leaves either the whole evaluation or none of it.

>>> import pandas as pd
>>> cases = pd.DataFrame({"case_id": ["a", "b"], "patient_id": ["p1", "p2"],
...                       "truth": ["live_birth", "miscarriage"], "score": [0.2, 0.9], "plane": ["sagittal"] * 2})
>>> save_evaluation("demo", task="miscarriage", cases=cases,
...                 meta={"class_names": ["live_birth", "miscarriage"]})       # doctest: +SKIP
1
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from core.store._cases import CASE_COLUMNS, case_rows
from core.store._values import plain
from core.store.bundles import find_bundle, get_bundle, register_bundle
from core.store.engine import session_scope
from core.store.errors import NotFoundError, StoreError
from core.store.schema import Bundle, Evaluation, Prediction

MAX_NAME = 200
_INSERT_CHUNK = 5000


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise StoreError("evaluation name: must be a non-empty text")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise StoreError(f"evaluation name: {len(name)} characters, limit {MAX_NAME}")
    return name


def _bundle_for(bundle_path, task: str) -> dict:
    found = find_bundle(bundle_path)
    if found is not None:
        return found
    folder = Path(bundle_path).expanduser()
    meta = None if (folder / "model.json").is_file() else {"task": task}
    return get_bundle(register_bundle(folder, meta))


def _insert(session, evaluation_id: int, rows: list[dict]) -> None:
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = [{**r, "evaluation_id": evaluation_id} for r in rows[start:start + _INSERT_CHUNK]]
        session.execute(insert(Prediction), chunk)


def save_evaluation(name: str, *, task: str, cases, bundle_path=None, rule_table=None, meta: dict | None = None,
                    manifest_fingerprint: str | None = None, replace: bool = False) -> int:
    """Store an evaluation and its per-case predictions atomically; returns the evaluation id.

    ``cases`` columns: ``case_id``, ``patient_id``, ``truth`` (class name or class index), ``score``
    (positive-class probability) and/or ``scores`` (list of per-class probabilities in ``class_names``
    order); optional ``crl_low``, ``fhr_low``, ``both_low``, ``rule_applicable``, ``fold``; every other
    column (plane, ga_weeks, ...) is kept as a subgroup field. ``meta["class_names"]`` (or the bundle's) maps
    class indices to names. ``replace=True`` overwrites an evaluation of the same name.
    """
    name = _check_name(name)
    if not isinstance(task, str) or not task:
        raise StoreError("evaluation task: must be a non-empty text")
    meta = plain(dict(meta or {}))
    bundle = _bundle_for(bundle_path, task) if bundle_path is not None else None
    class_names = list(meta.get("class_names") or (bundle or {}).get("class_names") or [])
    rows = case_rows(cases, class_names=class_names)
    meta.setdefault("class_names", class_names)
    fingerprint = manifest_fingerprint or meta.pop("manifest_fingerprint", None)
    try:
        with session_scope() as session:
            old = session.scalars(select(Evaluation).where(Evaluation.name == name)).one_or_none()
            if old is not None:
                if not replace:
                    raise StoreError(f"evaluation {name!r} already exists (choose another name or replace it)")
                session.execute(delete(Prediction).where(Prediction.evaluation_id == old.id))
                session.delete(old)
                session.flush()
            row = Evaluation(name=name, task=task, bundle_id=(bundle or {}).get("id"),
                             manifest_fingerprint=fingerprint, rule_table=plain(rule_table), meta=meta)
            session.add(row)
            session.flush()
            _insert(session, row.id, rows)
            return row.id
    except IntegrityError:
        raise StoreError(f"evaluation {name!r} already exists (written by another process)") from None


def append_predictions(name: str, cases) -> int:
    """Add cases to an existing evaluation (e.g. one cross-validation fold at a time); returns rows added."""
    name = _check_name(name)
    try:
        with session_scope() as session:
            ev = session.scalars(select(Evaluation).where(Evaluation.name == name)).one_or_none()
            if ev is None:
                raise NotFoundError(f"evaluation {name!r}: not in the store")
            rows = case_rows(cases, class_names=(ev.meta or {}).get("class_names"))
            _insert(session, ev.id, rows)
            return len(rows)
    except IntegrityError:
        raise StoreError(f"evaluation {name!r}: a case_id being appended is already stored") from None


def _evaluation_meta(session, ev: Evaluation) -> dict:
    bundle = session.get(Bundle, ev.bundle_id) if ev.bundle_id is not None else None
    return {**(ev.meta or {}), "id": ev.id, "name": ev.name, "task": ev.task, "bundle_id": ev.bundle_id,
            "bundle_name": bundle.name if bundle else None, "bundle_path": bundle.path if bundle else None,
            "bundle_deleted": bool(bundle is not None and bundle.deleted is not None),
            "manifest_fingerprint": ev.manifest_fingerprint, "rule_table": ev.rule_table, "created": ev.created}


def _frame(records: list[tuple]):
    import pandas as pd

    base = [dict(zip(CASE_COLUMNS, r[:-1])) for r in records]
    keys: dict[str, None] = {}
    for r in records:
        keys.update(dict.fromkeys(r[-1] or {}))
    for row, r in zip(base, records):
        sub = r[-1] or {}
        row.update({k: sub.get(k) for k in keys})
    df = pd.DataFrame(base, columns=list(CASE_COLUMNS) + [k for k in keys if k not in CASE_COLUMNS])
    df["score"] = df["score"].astype(float)
    for col in ("truth_index", "fold"):
        df[col] = df[col].astype("Int64")
    for col in ("rule_applicable", "crl_low", "fhr_low", "both_low"):
        df[col] = df[col].astype("boolean")
    return df


def load_evaluation(name: str):
    """``(meta, cases)``: the evaluation's meta dict and its per-case predictions as a DataFrame.

    Cases come back in the order they were saved, with ``truth`` as the class name, ``truth_index`` as the
    class index, and one column per subgroup field.
    """
    name = _check_name(name)
    columns = [getattr(Prediction, c) for c in CASE_COLUMNS] + [Prediction.subgroups]
    with session_scope(write=False) as session:
        ev = session.scalars(select(Evaluation).where(Evaluation.name == name)).one_or_none()
        if ev is None:
            raise NotFoundError(f"evaluation {name!r}: not in the store")
        meta = _evaluation_meta(session, ev)
        records = session.execute(select(*columns).where(Prediction.evaluation_id == ev.id)
                                  .order_by(Prediction.id)).all()
    return meta, _frame([tuple(r) for r in records])


def list_evaluations(task: str | None = None):
    """Stored evaluations (optionally of one task), newest first, with their case and patient counts."""
    import pandas as pd

    counts = (select(Prediction.evaluation_id.label("eid"), func.count().label("n_cases"),
                     func.count(func.distinct(Prediction.patient_id)).label("n_patients"))
              .group_by(Prediction.evaluation_id).subquery())
    query = (select(Evaluation.id, Evaluation.name, Evaluation.task, Evaluation.bundle_id,
                    Bundle.name.label("bundle_name"), Evaluation.created,
                    func.coalesce(counts.c.n_cases, 0), func.coalesce(counts.c.n_patients, 0),
                    Bundle.deleted.is_not(None).label("bundle_deleted"))
             .outerjoin(Bundle, Bundle.id == Evaluation.bundle_id)
             .outerjoin(counts, counts.c.eid == Evaluation.id)
             .order_by(Evaluation.id.desc()))
    if task is not None:
        query = query.where(Evaluation.task == task)
    # bundle_deleted: the evaluation is of a model since deleted (its row stays; core.store.bundles.delete_bundle)
    cols = ["id", "name", "task", "bundle_id", "bundle_name", "created", "n_cases", "n_patients", "bundle_deleted"]
    with session_scope(write=False) as session:
        rows = [tuple(r) for r in session.execute(query)]
    return pd.DataFrame(rows, columns=cols)


def delete_evaluation(name: str) -> None:
    """Remove an evaluation and its predictions."""
    name = _check_name(name)
    with session_scope() as session:
        ev = session.scalars(select(Evaluation).where(Evaluation.name == name)).one_or_none()
        if ev is None:
            raise NotFoundError(f"evaluation {name!r}: not in the store")
        session.execute(delete(Prediction).where(Prediction.evaluation_id == ev.id))
        session.delete(ev)
