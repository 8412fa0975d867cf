"""The organizer-facing API: set up studies, follow progress, see results and export answers.

Why a session object: the dashboard hands it the signed-in user's id, and every call first checks that this
user is an organizer, so a reader who reaches an organizer page (or script) gets an AccessDenied, not data.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select

from core.reader_study.errors import AccessDenied
from core.reader_study.session import PHASES


class OrganizerSession:
    """Organizer actions on behalf of ``user_id`` (must be an active organizer)."""

    def __init__(self, user_id: int):
        from core.accounts import get_user

        account = get_user(int(user_id))
        if account is None or not account.active or account.role != "organizer":
            raise AccessDenied("only an organizer may set up studies and see their results")
        self._user = account.id

    def readers(self) -> list:
        """Reader accounts that can be assigned."""
        from core.accounts import list_users

        return list_users("reader")

    def create_study(self, name: str, *, task: str, cases, readers, design: str = "sequential", **options) -> int:
        """See :func:`core.reader_study.setup.create_study`; the AI output is computed lazily or by
        :meth:`precompute_ai`."""
        from core.reader_study.setup import create_study

        return create_study(name, task=task, cases=cases, readers=readers, design=design,
                            organizer_id=self._user, **options)

    def precompute_ai(self, study_id: int, *, progress=None) -> int:
        from core.reader_study.ai import precompute

        return precompute(study_id, progress=progress)

    def assign_readers(self, study_id: int, readers) -> None:
        from core.reader_study.setup import assign_readers

        assign_readers(study_id, readers)

    def studies(self) -> list[dict]:
        from core.reader_study.setup import list_studies

        return list_studies()

    def study(self, study_id: int) -> dict:
        from core.reader_study.setup import get_study

        return get_study(study_id)

    def set_status(self, study_id: int, status: str) -> None:
        from core.reader_study.setup import set_status

        set_status(study_id, status)

    def progress(self, study_id: int) -> pd.DataFrame:
        """One row per assigned reader: readings done / total, last answer, median seconds per reading."""
        from core.reader_study.schema import Answer, StudyReader, User
        from core.reader_study.setup import get_study
        from core.store import session_scope

        study = get_study(study_id)
        per_case = len(PHASES[study["design"]])
        with session_scope(write=False) as session:
            assigned = session.execute(select(User.username, StudyReader.user_id, StudyReader.case_order)
                                       .join(User, User.id == StudyReader.user_id)
                                       .where(StudyReader.study_id == int(study_id))).all()
            stats = {uid: (n, last) for uid, n, last in session.execute(
                select(Answer.user_id, func.count(), func.max(Answer.created))
                .where(Answer.study_id == int(study_id), Answer.version == 1).group_by(Answer.user_id)).all()}
        rows = []
        for username, uid, order in assigned:
            done, last = stats.get(uid, (0, None))
            total = len(order) * per_case
            rows.append({"reader": username, "done": int(done), "total": total,
                         "percent": round(100.0 * done / total, 1) if total else 0.0,
                         "status": "finished" if done >= total else ("reading" if done else "not started"),
                         "last_answer": last})
        return pd.DataFrame(rows, columns=["reader", "done", "total", "percent", "status", "last_answer"])

    def results(self, study_id: int) -> dict:
        from core.reader_study.analysis import results

        return results(study_id)

    def answers(self, study_id: int, *, all_versions: bool = False) -> pd.DataFrame:
        from core.reader_study.analysis import answers_frame

        return answers_frame(study_id, all_versions=all_versions)

    def export_csv(self, study_id: int) -> str:
        from core.reader_study.analysis import export_csv

        return export_csv(study_id)
