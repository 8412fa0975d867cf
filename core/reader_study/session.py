"""The reader-facing API: everything a signed-in reader may see and do, and nothing more.

Why blinding lives here and not in the pages: a page can be changed, inspected or bypassed, so the only
objects a reader's session ever gets are the frozen dataclasses of :mod:`core.reader_study.views`. None of
them has a field for the ground truth, another reader's answers, the case's source path or patient key, and
:class:`CaseItem` carries AI output only in the aided phase, and in a sequential study only after the
reader's unaided answer to that case is stored. Once the aided phase of a case is opened, the unaided answer can no longer be changed (it
would no longer be unaided). Answers are append-only: a permitted change stores a new version.

Images reach the reader with their burned-in banner masked (``core.preprocess.fan.banner_rows``): scanners
print the exam type there, and "...ABDOMEN" on a view-classification case is the answer. Where the study
allows navigation, the reader gets a case list with flags and may skip and go back; otherwise the cases come
strictly in their order. The time per reading is what the dashboard measured while the case was visible,
bounded by the time since the case was first opened.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core import audit
from core.accounts import get_user
from core.reader_study.ai import case_ai
from core.reader_study.errors import AccessDenied, StudyError
from core.reader_study.images import _decode_png, _load_raw, _mask_banner, _mask_like
from core.reader_study.schema import Answer, CaseFlag, CaseOpen, ReaderStudy, StudyCase, StudyReader
from core.reader_study.views import (MAX_TEXT, PHASES, AIView, CaseItem, CaseRow, MyAnswer, StudyView,
                                     _check_region, _naive_utc, _reading_seconds, visible_seconds)
from core.store import session_scope

__all__ = ["MAX_TEXT", "PHASES", "AIView", "CaseItem", "CaseRow", "MyAnswer", "ReaderSession", "StudyView",
           "visible_seconds"]   # the views re-exported from .views


class ReaderSession:
    """A signed-in reader's view of their studies. Construct it with the user id the sign-in produced."""

    def __init__(self, user_id: int):
        account = get_user(int(user_id))
        if account is None or not account.active:
            raise AccessDenied(f"user {user_id} is not an active account")
        self._user, self._name = account.id, account.username

    @property
    def user_id(self) -> int:
        return self._user

    # ------------------------------------------------------------------------------------------ internals
    def _context(self, session, study_id: int):
        assignment = session.scalar(select(StudyReader).where(StudyReader.study_id == int(study_id),
                                                              StudyReader.user_id == self._user))
        if assignment is None:
            raise AccessDenied(f"study {study_id}: you are not a reader of this study")
        return session.get(ReaderStudy, int(study_id)), assignment

    def _answers(self, session, study_id: int) -> dict:
        """{(case_id, phase): latest Answer row} for this reader only."""
        rows = session.scalars(select(Answer).where(Answer.study_id == int(study_id), Answer.user_id == self._user)
                               .order_by(Answer.version))
        return {(r.case_id, r.phase): r for r in rows}

    def _case_ids(self, session, study_id: int, order: list) -> list[int]:
        by_pos = dict(session.execute(select(StudyCase.position, StudyCase.id)
                                      .where(StudyCase.study_id == int(study_id))).all())
        return [by_pos[p] for p in order]

    def _opened(self, session, case_id: int, phase: str):
        return session.scalar(select(CaseOpen.opened).where(CaseOpen.case_id == case_id, CaseOpen.user_id == self._user,
                                                            CaseOpen.phase == phase))

    def _mark_open(self, case_id: int, phase: str) -> None:
        with session_scope(write=False) as session:
            if self._opened(session, case_id, phase) is not None:
                return
        try:
            with session_scope() as session:
                if self._opened(session, case_id, phase) is None:
                    session.add(CaseOpen(case_id=case_id, user_id=self._user, phase=phase))
        except IntegrityError:
            pass  # another tab of the same reader opened it first: the first time counts

    @staticmethod
    def _my_answer(row, number: int) -> MyAnswer:
        return MyAnswer(case_id=row.case_id, number=number, phase=row.phase, version=row.version, label=row.label,
                        confidence=row.confidence, free_text=row.free_text,
                        region=tuple(row.region) if row.region else None, seconds=row.seconds, created=row.created)

    def _may_open(self, study, ids: list, answers: dict, case_id: int, phase: str) -> bool:
        """Navigation studies: any case (aided after unaided). Otherwise: the next reading, or one already
        answered (shown read-only unless the study allows changes)."""
        if (study.questions or {}).get("navigation"):
            return True
        if (case_id, phase) in answers:
            return True
        for cid in ids:
            for ph in PHASES[study.design]:
                if (cid, ph) not in answers:
                    return (cid, ph) == (case_id, phase)
        return False

    def _flagged(self, session, case_id: int, phase: str) -> bool:
        return bool(session.scalar(select(CaseFlag.flagged).where(CaseFlag.case_id == case_id, CaseFlag.phase == phase,
                                                                  CaseFlag.user_id == self._user)))

    def _may_change(self, session, study, case_id: int, phase: str) -> bool:
        if not study.allow_changes or study.status != "open":
            return False
        if study.design == "sequential" and phase == "unaided":
            return self._opened(session, case_id, "aided") is None
        return True

    # ------------------------------------------------------------------------------------------ public API
    def studies(self) -> list[StudyView]:
        """The studies this reader is assigned to, with their progress."""
        out = []
        with session_scope(write=False) as session:
            for study, assignment in session.execute(
                    select(ReaderStudy, StudyReader).join(StudyReader, StudyReader.study_id == ReaderStudy.id)
                    .where(StudyReader.user_id == self._user).order_by(ReaderStudy.id.desc())).all():
                done = session.scalar(select(func.count()).select_from(Answer).where(
                    Answer.study_id == study.id, Answer.user_id == self._user, Answer.version == 1))
                out.append(StudyView(id=study.id, name=study.name, design=study.design, labels=tuple(study.labels),
                                     positive_label=study.positive_label, questions=dict(study.questions),
                                     allow_changes=study.allow_changes, status=study.status, done=int(done or 0),
                                     total=len(assignment.case_order) * len(PHASES[study.design])))
        return out

    def progress(self, study_id: int) -> dict:
        """{"done", "total"} readings (case x phase) of this reader in the study."""
        with session_scope(write=False) as session:
            study, assignment = self._context(session, study_id)
            return {"done": len(self._answers(session, study_id)),
                    "total": len(assignment.case_order) * len(PHASES[study.design])}

    def next_item(self, study_id: int) -> CaseItem | None:
        """The first reading this reader has not answered (resume point), or None when all are done."""
        with session_scope(write=False) as session:
            study, assignment = self._context(session, study_id)
            answers = self._answers(session, study_id)
            for number, case_id in enumerate(self._case_ids(session, study_id, assignment.case_order), start=1):
                for phase in PHASES[study.design]:
                    if (case_id, phase) not in answers:
                        return self.item(study_id, number, phase)
        return None

    def item(self, study_id: int, number: int, phase: str) -> CaseItem:
        """Reading ``number`` (1-based, this reader's order) in ``phase``; opening it starts its clock."""
        with session_scope(write=False) as session:
            study, assignment = self._context(session, study_id)
            if phase not in PHASES[study.design]:
                raise AccessDenied(f"study {study.name} has no {phase} phase")
            ids = self._case_ids(session, study_id, assignment.case_order)
            if not 1 <= int(number) <= len(ids):
                raise StudyError(f"case number {number}: the study has {len(ids)} cases")
            case_id = ids[int(number) - 1]
            answers = self._answers(session, study_id)
            if phase == "aided" and study.design == "sequential" and (case_id, "unaided") not in answers:
                raise AccessDenied("the aided reading of a case opens only after its unaided answer is saved")
            if not self._may_open(study, ids, answers, case_id, phase):
                raise AccessDenied(f"study {study.name} shows its cases in order: read the next one first")
            flagged = self._flagged(session, case_id, phase)
            case = session.get(StudyCase, case_id)
            paths, clinical = list(case.images), dict(case.clinical or {})
            prev = answers.get((case_id, phase))
            previous = self._my_answer(prev, int(number)) if prev is not None else None
            can_change = previous is None or self._may_change(session, study, case_id, phase)
            positive, n_cases = study.positive_label, len(ids)
        raw = _load_raw(paths)
        ai = None
        if phase == "aided":
            out = case_ai(case_id, actor=self._user)
            overlay = _decode_png(out["overlay_png"])
            if overlay is not None and raw:   # the overlay is drawn on the first image: mask the same banner
                overlay = _mask_like(overlay, raw[0])
            ai = AIView(probability=out["probability"], positive_label=positive, predicted_class=out["predicted_class"],
                        rules=out["rules"], overlay=overlay, warnings=tuple(out["warnings"]))
        self._mark_open(case_id, phase)
        return CaseItem(study_id=int(study_id), case_id=case_id, number=int(number), n_cases=n_cases, phase=phase,
                        images=tuple(_mask_banner(im) for im in raw), clinical=clinical, ai=ai, previous=previous,
                        can_change=can_change, flagged=flagged)

    def submit(self, study_id: int, case_id: int, phase: str, *, label: str, confidence: float,
               free_text: str = "", region=None, seconds: float | None = None) -> MyAnswer:
        """Store this reader's answer (a new version when changes are permitted); returns what was stored.

        ``seconds``: the time the case was visible (measured by the dashboard); it is capped by the time since
        the case was first opened. Without it the time since opening is stored.
        """
        free_text = str(free_text or "")
        if len(free_text) > MAX_TEXT:
            raise StudyError(f"free text has {len(free_text)} characters, limit {MAX_TEXT}")
        try:
            confidence = float(confidence)
        except (TypeError, ValueError) as exc:
            raise StudyError(f"confidence {confidence!r}: give a number from 0 to 100") from exc
        if not (math.isfinite(confidence) and 0.0 <= confidence <= 100.0):
            raise StudyError(f"confidence {confidence!r}: give a number from 0 to 100")
        region = _check_region(region)
        for attempt in range(3):
            try:
                with session_scope() as session:
                    study, assignment = self._context(session, study_id)
                    if study.status != "open":
                        raise AccessDenied(f"study {study.name} is closed")
                    if phase not in PHASES[study.design]:
                        raise AccessDenied(f"study {study.name} has no {phase} phase")
                    if label not in study.labels:
                        raise StudyError(f"label {label!r}: choose one of {', '.join(study.labels)}")
                    ids = self._case_ids(session, study_id, assignment.case_order)
                    if int(case_id) not in ids:
                        raise AccessDenied(f"case {case_id} is not part of study {study.name}")
                    answers = self._answers(session, study_id)
                    if phase == "aided" and study.design == "sequential" and (case_id, "unaided") not in answers:
                        raise AccessDenied("answer the unaided reading of this case first")
                    prev = answers.get((int(case_id), phase))
                    if prev is not None and not self._may_change(session, study, int(case_id), phase):
                        raise AccessDenied("this answer can no longer be changed")
                    opened = self._opened(session, int(case_id), phase)
                    now = datetime.now(timezone.utc)
                    since_open = None if opened is None else max(
                        0.0, (_naive_utc(now) - _naive_utc(opened)).total_seconds())
                    seconds = _reading_seconds(seconds, since_open)
                    row = Answer(study_id=int(study_id), case_id=int(case_id), user_id=self._user, phase=phase,
                                 version=1 if prev is None else prev.version + 1, label=label, confidence=confidence,
                                 free_text=free_text, region=list(region) if region else None, seconds=seconds,
                                 created_by=self._user, created=now)
                    session.add(row)
                    session.flush()
                    stored = self._my_answer(row, ids.index(int(case_id)) + 1)
                audit.record(self._name, "study.answer" if stored.version == 1 else "study.answer_change",
                             f"study:{int(study_id)}", {"case": stored.number, "phase": phase,
                                                        "version": stored.version})
                return stored
            except IntegrityError:
                if attempt == 2:
                    raise
        raise StudyError("the answer could not be stored")  # unreachable: the loop returns or raises

    def case_list(self, study_id: int) -> list[CaseRow]:
        """The reader's cases in their order with what they have answered and flagged (no truth, no AI)."""
        with session_scope(write=False) as session:
            study, assignment = self._context(session, study_id)
            ids = self._case_ids(session, study_id, assignment.case_order)
            answers = self._answers(session, study_id)
            flags = {(f.case_id) for f in session.scalars(select(CaseFlag).where(
                CaseFlag.user_id == self._user, CaseFlag.case_id.in_(ids), CaseFlag.flagged.is_(True)))}
            rows = []
            for number, cid in enumerate(ids, start=1):
                done = tuple(ph for ph in PHASES[study.design] if (cid, ph) in answers)
                first_open = PHASES[study.design][len(done)] if len(done) < len(PHASES[study.design]) else done[-1]
                rows.append(CaseRow(number=number, case_id=cid, done=done, flagged=cid in flags,
                                    can_open=self._may_open(study, ids, answers, cid, first_open)))
            return rows

    def set_flag(self, study_id: int, case_id: int, phase: str, flagged: bool = True) -> None:
        """Flag (or unflag) a case in a phase to come back to it; only where the study allows navigation."""
        with session_scope() as session:
            study, assignment = self._context(session, study_id)
            if not (study.questions or {}).get("navigation"):
                raise AccessDenied(f"study {study.name} does not allow flagging and navigation")
            if int(case_id) not in self._case_ids(session, study_id, assignment.case_order):
                raise AccessDenied(f"case {case_id} is not part of study {study.name}")
            row = session.scalar(select(CaseFlag).where(CaseFlag.case_id == int(case_id), CaseFlag.phase == phase,
                                                        CaseFlag.user_id == self._user))
            if row is None:
                session.add(CaseFlag(case_id=int(case_id), user_id=self._user, phase=phase, flagged=bool(flagged)))
            else:
                row.flagged = bool(flagged)

    def my_answers(self, study_id: int) -> list[MyAnswer]:
        """This reader's latest answers in the study, in their reading order."""
        with session_scope(write=False) as session:
            study, assignment = self._context(session, study_id)
            ids = self._case_ids(session, study_id, assignment.case_order)
            number = {cid: k + 1 for k, cid in enumerate(ids)}
            rows = self._answers(session, study_id).values()
            return sorted((self._my_answer(r, number[r.case_id]) for r in rows),
                          key=lambda a: (a.number, PHASES[study.design].index(a.phase)))
