"""The organizer-facing API: set up studies, follow progress, see results and export answers.

Why a session object: the dashboard hands it the signed-in user's id, and every call first checks that this
user is an organizer or admin who is not a blinded reader (:mod:`core.reader_study.blinding`), so a reader
who reaches an organizer page (or script) gets an AccessDenied, not data. Every change to a study and every
export is one row in the audit trail (:mod:`core.audit`).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select

from core import audit
from core.accounts import list_users
from core.paths import sonodash_home
from core.reader_study import ai, analysis, preview, setup
from core.reader_study.blinding import require_unblinded
from core.reader_study.schema import Answer, StudyReader
from core.reader_study.views import PHASES
from core.store import session_scope
from core.store.users_schema import User


class OrganizerSession:
    """Organizer actions on behalf of ``user_id`` (an active organizer or admin, not blinded)."""

    def __init__(self, user_id: int):
        account = require_unblinded(int(user_id), "setting up studies and seeing their results")
        self._user, self._name = account.id, account.username

    def _audit(self, action: str, study_id, detail: dict | None = None) -> None:
        audit.record(self._name, action, f"study:{study_id}", detail)

    def readers(self) -> list:
        """Accounts that can be assigned as readers (reader and clinician roles)."""
        return sorted((u for role in setup.READER_ROLES for u in list_users(role) if u.active), key=lambda u: u.username)

    def create_study(self, name: str, *, task: str, cases, readers, design: str = "sequential", **options) -> int:
        """See :func:`core.reader_study.setup.create_study`; the AI output is computed lazily or by
        :meth:`precompute_ai`."""
        sid = setup.create_study(name, task=task, cases=cases, readers=readers, design=design,
                           organizer_id=self._user, **options)
        study = self.study(sid)
        self._audit("study.create", sid, {"name": study["name"], "task": task, "design": design,
                                          "cases": len(cases), "readers": len(readers or ()),
                                          "status": study["status"], "model": study["bundle_path"]})
        return sid

    def update_study(self, study_id: int, **changes) -> dict:
        diff = setup.update_study(study_id, **changes)
        if diff:
            self._audit("study.edit", study_id, {"changed": sorted(diff)})
        return diff

    def precompute_ai(self, study_id: int, *, progress=None) -> int:
        return ai.precompute(study_id, progress=progress)

    def assign_readers(self, study_id: int, readers) -> None:
        setup.assign_readers(study_id, readers)
        self._audit("study.assign_readers", study_id, {"readers": len(readers or ())})

    def studies(self) -> list[dict]:
        return setup.list_studies()

    def study(self, study_id: int) -> dict:
        return setup.get_study(study_id)

    def set_status(self, study_id: int, status: str) -> None:
        previous = setup.set_status(study_id, status)
        if previous != status:
            self._audit({"open": "study.open", "closed": "study.close"}[status], study_id,
                        {"from": previous, "to": status})

    def delete_study(self, study_id: int) -> str:
        """Export every answer version to ``$SONODASH_HOME/exports`` first, then delete; returns the CSV path."""
        name = self.study(study_id)["name"]
        path = setup.delete_study(study_id, export_dir=sonodash_home() / "exports")
        self._audit("study.delete", study_id, {"name": name, "exported_to": path.name})
        return str(path)

    def preview(self, study_id: int, number: int):
        """Case ``number`` (1-based, study order) as a reader would see it, plus truth and AI output."""
        return preview.preview_case(study_id, number)

    def progress(self, study_id: int) -> pd.DataFrame:
        """One row per assigned reader: readings done / total, last answer, median seconds per reading."""
        study = setup.get_study(study_id)
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
                         "last_answer": last.strftime("%Y-%m-%d %H:%M") if last is not None else "—"})
        return pd.DataFrame(rows, columns=["reader", "done", "total", "percent", "status", "last_answer"])

    def results(self, study_id: int) -> dict:
        return analysis.results(study_id, actor=self._user)

    def answers(self, study_id: int, *, all_versions: bool = False) -> pd.DataFrame:
        return analysis.answers_frame(study_id, all_versions=all_versions, actor=self._user)

    def export_csv(self, study_id: int, *, record: bool = True) -> str:
        """Every answer version as CSV (cells escaped against spreadsheet formulas); audited as an export
        (``record=False`` when the caller records the export itself, e.g. when the download is clicked)."""
        text = analysis.export_csv(study_id, actor=self._user)
        if record:
            self._audit("export.study_answers", study_id, {"rows": max(0, text.count("\n") - 1)})
        return text
