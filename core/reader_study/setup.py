"""Study setup for organizers: cases from a manifest or a stored evaluation, design, readers, case orders.

Why cases are frozen into the study: a reader study must be reproducible after the manifest moves or the
evaluation is replaced, so each case's image paths, clinical values and truth are copied into
``study_cases`` when the study is created. Each reader's case order is drawn once from
``np.random.default_rng([seed, user_id])`` and stored, so it is the same on every device and after a restart.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from core import store
from core.accounts import get_user
from core.reader_study.answers import answers_csv
from core.reader_study.errors import StudyError
from core.reader_study.schema import CaseAI, ReaderStudy, StudyCase, StudyReader
from core.reader_study.sources import (CLINICAL_FIELDS, MAX_IMAGES_PER_CASE, VIDEO_SUFFIXES, CaseSpec,
                                       cases_from_evaluation, cases_from_manifest, demo_data_root)
from core.store import default_bundle, session_scope
from core.tasks import get_task, positive_index
from core.text_safety import check_identifier

__all__ = ["CLINICAL_FIELDS", "DEFAULT_QUESTIONS", "DESIGNS", "EDITABLE", "MAX_IMAGES_PER_CASE", "ORDINAL_SCALE",
           "READER_ROLES", "STATUSES", "STUDY_COLUMNS", "VIDEO_SUFFIXES", "CaseSpec", "assign_readers",
           "cases_from_evaluation", "cases_from_manifest", "create_study", "delete_study", "demo_data_root",
           "get_study", "list_studies", "reader_order", "set_status", "update_study"]  # sources' names re-exported

DESIGNS = ("unaided", "aided", "sequential")
DEFAULT_QUESTIONS = {"label": True, "confidence": True, "free_text": True, "region": True, "navigation": False,
                     "ordinal": False}
READER_ROLES = ("reader", "clinician")
STATUSES = ("draft", "open", "closed")
ORDINAL_SCALE = ("definitely not", "probably not", "uncertain", "probably", "definitely")


def reader_order(n_cases: int, *, seed: int, user_id: int) -> list[int]:
    """The reader's case order (positions 0..n-1), reproducible from the study seed and the reader id."""
    return [int(i) for i in np.random.default_rng([int(seed), int(user_id)]).permutation(n_cases)]


def _resolve_readers(readers) -> list[int]:
    ids = []
    for r in readers or []:
        account = get_user(int(r) if isinstance(r, (int, np.integer)) else str(r))
        if account is None:
            raise StudyError(f"reader {r!r} does not exist")
        if account.role not in READER_ROLES:
            raise StudyError(f"user {account.username} is an {account.role}: only {' or '.join(READER_ROLES)} "
                             "accounts can read a study")
        ids.append(account.id)
    return sorted(set(ids))


def _labels_for(task: str | None, cases: list[CaseSpec], labels, positive_label):
    if labels is None:
        labels = None
        if task:
            try:
                labels = list(get_task(task).labels)
                positive_label = positive_label or get_task(task).positive_label
            except Exception:  # noqa: BLE001 - a user-defined task without labels: use the cases' truths
                labels = None
        labels = labels or sorted({c.truth for c in cases})
    labels = [str(x) for x in labels]
    missing = sorted({c.truth for c in cases} - set(labels))
    if missing:
        raise StudyError(f"case truths {', '.join(missing)} are not among the labels {', '.join(labels)}")
    if positive_label is None:                      # the project's one rule for two labels; else the last
        pos = positive_index(labels)
        positive_label = labels[pos] if pos is not None else labels[-1]
    if positive_label not in labels:
        raise StudyError(f"positive label {positive_label!r} is not one of {', '.join(labels)}")
    return labels, positive_label


def create_study(name: str, *, task: str, cases: list[CaseSpec], readers=(), design: str = "sequential",
                 labels=None, positive_label: str | None = None, allow_changes: bool = False,
                 seed: int | None = None, questions: dict | None = None, organizer_id: int | None = None,
                 bundle_path: str | None = "default", source: dict | None = None, status: str = "open") -> int:
    """Freeze ``cases`` into a new study and assign ``readers`` (user names or ids); returns the study id.

    ``bundle_path="default"`` takes the task's default bundle from the store (None = no AI output); any other
    path must be a registered bundle. ``status="draft"`` keeps it editable and closed to readers until opened.
    Questions: ``kind`` is ``binary`` (confidence that the case is the positive label) for two labels and
    ``multiclass`` (one of K labels, with the confidence in that answer) otherwise; ``ordinal`` asks a
    5-point scale instead of 0-100; ``navigation`` lets readers skip, go back and choose cases from a list.
    """
    name = check_identifier(name, "study name")
    if status not in STATUSES:
        raise StudyError(f"status {status!r}: choose one of {', '.join(STATUSES)}")
    if not name or len(name) > 200:
        raise StudyError("study name: 1-200 characters are required")
    if design not in DESIGNS:
        raise StudyError(f"design {design!r}: choose one of {', '.join(DESIGNS)}")
    if not cases:
        raise StudyError(f"study {name}: no cases")
    labels, positive_label = _labels_for(task, cases, labels, positive_label)
    if bundle_path == "default":
        bundle = default_bundle(task) if task else None
        bundle_path = bundle["path"] if bundle else None
    elif bundle_path is not None:
        bundle_path = _registered_bundle(bundle_path)
    if design != "unaided" and bundle_path is None:
        raise StudyError(f"study {name}: the {design} design needs an AI model, and task {task} has no default "
                         "model in the store (register one on the Models page)")
    seed = int(seed if seed is not None else np.random.default_rng().integers(0, 2 ** 31 - 1))
    reader_ids = _resolve_readers(readers)
    with session_scope() as session:
        if session.scalar(select(ReaderStudy.id).where(ReaderStudy.name == name)) is not None:
            raise StudyError(f"a study named {name} already exists")
        study = ReaderStudy(name=name, task=task, design=design, labels=labels, positive_label=positive_label,
                            questions=_questions(questions, labels), allow_changes=bool(allow_changes),
                            seed=seed, status=status, source=source or {}, bundle_path=bundle_path,
                            created_by=organizer_id)
        session.add(study)
        session.flush()
        for pos, c in enumerate(cases):
            session.add(StudyCase(study_id=study.id, position=pos, case_key=c.case_key, images=list(c.images),
                                  clinical=dict(c.clinical), truth=c.truth))
        for uid in reader_ids:
            session.add(StudyReader(study_id=study.id, user_id=uid,
                                    case_order=reader_order(len(cases), seed=seed, user_id=uid)))
        return study.id


def _questions(questions: dict | None, labels: list) -> dict:
    out = {**DEFAULT_QUESTIONS, **(questions or {})}
    out["kind"] = "binary" if len(labels) == 2 else "multiclass"
    if out["kind"] != "binary":
        out["ordinal"] = False      # the 5-point scale is about the positive class
    return out


def _registered_bundle(path) -> str:
    table = store.list_bundles()
    paths = set(table["path"].astype(str)) if not table.empty else set()
    if str(path) not in paths:
        raise StudyError(f"AI model {path}: not a registered model (register it on the Models page)")
    return str(path)


def assign_readers(study_id: int, readers) -> None:
    """Add readers to an existing study (already assigned readers are kept as they are)."""
    study = get_study(study_id)
    ids = _resolve_readers(readers)
    with session_scope() as session:
        n = session.scalar(select(func.count()).select_from(StudyCase).where(StudyCase.study_id == study_id))
        have = set(session.scalars(select(StudyReader.user_id).where(StudyReader.study_id == study_id)))
        for uid in ids:
            if uid not in have:
                session.add(StudyReader(study_id=study_id, user_id=uid,
                                        case_order=reader_order(n, seed=study["seed"], user_id=uid)))


STUDY_COLUMNS = ("id", "name", "task", "design", "labels", "positive_label", "questions", "allow_changes",
                 "seed", "status", "source", "bundle_path", "created_by", "created")


def get_study(study_id: int) -> dict:
    """The study's settings (no cases, no truth)."""
    with session_scope(write=False) as session:
        row = session.get(ReaderStudy, int(study_id))
        if row is None:
            raise StudyError(f"study {study_id} does not exist")
        return {c: getattr(row, c) for c in STUDY_COLUMNS}


def list_studies() -> list[dict]:
    """Every study's settings, newest first."""
    with session_scope(write=False) as session:
        rows = session.scalars(select(ReaderStudy).order_by(ReaderStudy.id.desc()))
        return [{c: getattr(r, c) for c in STUDY_COLUMNS} for r in rows]


def set_status(study_id: int, status: str) -> str:
    """Open, close (or reopen) a study; returns the previous status. A closed study accepts no answers, a draft
    study is invisible to its readers and can still be edited; a study never goes back to draft."""
    if status not in ("open", "closed"):
        raise StudyError(f"status {status!r}: choose open or closed")
    with session_scope() as session:
        row = session.get(ReaderStudy, int(study_id))
        if row is None:
            raise StudyError(f"study {study_id} does not exist")
        previous, row.status = row.status, status
        return previous


EDITABLE = ("name", "design", "allow_changes", "questions", "bundle_path", "readers")


def update_study(study_id: int, **changes) -> dict:
    """Change a draft study's settings (``EDITABLE``); returns {field: [old, new]} of what changed.

    Why only drafts: once readers have started, a changed design, model or question set would make the
    answers already given incomparable with the rest.
    """
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise StudyError(f"cannot edit {', '.join(unknown)} (editable: {', '.join(EDITABLE)})")
    readers = changes.pop("readers", None)
    reader_ids = _resolve_readers(readers) if readers is not None else None
    if "name" in changes:
        changes["name"] = check_identifier(changes["name"], "study name")
        if not changes["name"] or len(changes["name"]) > 200:
            raise StudyError("study name: 1-200 characters are required")
    if changes.get("design") is not None and changes["design"] not in DESIGNS:
        raise StudyError(f"design {changes['design']!r}: choose one of {', '.join(DESIGNS)}")
    if changes.get("bundle_path") is not None:
        changes["bundle_path"] = _registered_bundle(changes["bundle_path"])
    diff = {}
    with session_scope() as session:
        row = session.get(ReaderStudy, int(study_id))
        if row is None:
            raise StudyError(f"study {study_id} does not exist")
        if row.status != "draft":
            raise StudyError(f"study {row.name} is {row.status}: only a draft study can be edited")
        if "name" in changes and changes["name"] != row.name and session.scalar(
                select(ReaderStudy.id).where(ReaderStudy.name == changes["name"])) is not None:
            raise StudyError(f"a study named {changes['name']} already exists")
        if "questions" in changes:
            changes["questions"] = _questions({**row.questions, **(changes["questions"] or {})}, row.labels)
        design = changes.get("design", row.design)
        if design != "unaided" and changes.get("bundle_path", row.bundle_path) is None:
            raise StudyError(f"the {design} design needs an AI model")
        for key, value in changes.items():
            if getattr(row, key) != value:
                diff[key] = [getattr(row, key), value]
                setattr(row, key, value)
        if "bundle_path" in diff:
            ids = list(session.scalars(select(StudyCase.id).where(StudyCase.study_id == row.id)))
            for ai in session.scalars(select(CaseAI).where(CaseAI.case_id.in_(ids))):
                session.delete(ai)      # the new model's output is computed afresh
        if reader_ids is not None:
            have = {r.user_id: r for r in session.scalars(select(StudyReader).where(StudyReader.study_id == row.id))}
            n = session.scalar(select(func.count()).select_from(StudyCase).where(StudyCase.study_id == row.id))
            for uid in set(have) - set(reader_ids):
                session.delete(have[uid])
            for uid in set(reader_ids) - set(have):
                session.add(StudyReader(study_id=row.id, user_id=uid,
                                        case_order=reader_order(n, seed=row.seed, user_id=uid)))
            if set(have) != set(reader_ids):
                diff["readers"] = [sorted(have), sorted(reader_ids)]
    return diff


def delete_study(study_id: int, *, export_dir: Path) -> Path:
    """Write every answer version to ``export_dir`` as CSV, then delete the study; returns the CSV's path."""
    study = get_study(study_id)
    export_dir = Path(export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in study["name"])[:80]
    target = export_dir / f"study-{study['id']}-{safe}-{stamp}.csv"
    target.write_text(answers_csv(study_id), encoding="utf-8")
    with session_scope() as session:
        row = session.get(ReaderStudy, int(study_id))
        if row is not None:
            session.delete(row)
    return target
