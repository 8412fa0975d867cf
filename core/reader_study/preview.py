"""Organizer preview of a study case: what the reader will see (banner masked) next to the truth and AI output.

Why a separate function from the reader's ``item``: the organizer must check cases before a study opens
(a wrong image, a banner that gives the answer away) without becoming a reader, opening a case (which would
start a clock) or leaving answers. The caller is an :class:`~core.reader_study.organizer.OrganizerSession`,
whose constructor has already refused blinded users.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from core.reader_study.errors import StudyError
from core.reader_study.images import _load_images
from core.reader_study.schema import CaseAI, StudyCase
from core.store import session_scope


@dataclass(frozen=True)
class CasePreview:
    number: int
    n_cases: int
    case_key: str
    truth: str
    clinical: dict
    images: tuple            # as the reader sees them (burned-in banner masked)
    ai_probability: float | None
    ai_label: str | None
    ai_computed: bool


def preview_case(study_id: int, number: int) -> CasePreview:
    with session_scope(write=False) as session:
        ids = list(session.scalars(select(StudyCase.id).where(StudyCase.study_id == int(study_id))
                                   .order_by(StudyCase.position)))
        if not 1 <= int(number) <= len(ids):
            raise StudyError(f"case number {number}: the study has {len(ids)} cases")
        case = session.get(StudyCase, ids[int(number) - 1])
        ai = session.scalar(select(CaseAI).where(CaseAI.case_id == case.id))
        paths, key, truth, clinical = list(case.images), case.case_key, case.truth, dict(case.clinical or {})
        prob = ai.probability if ai is not None else None
        label = ai.predicted_class if ai is not None else None
    return CasePreview(number=int(number), n_cases=len(ids), case_key=key, truth=truth, clinical=clinical,
                       images=_load_images(paths), ai_probability=prob, ai_label=label, ai_computed=ai is not None)
