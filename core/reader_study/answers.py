"""The answer table of a study: every answer version with who, when, the truth and the AI output.

Why a module of its own: the organizer's table and CSV export, the study results and the export that
precedes a study's deletion all read this one table, so setup and analysis both depend on it rather than on
each other. The checked functions take the caller (``actor``) and refuse anyone but an unblinded organizer
or admin, because the table holds the ground truth and the AI output of every case; :func:`answers_csv`
is for callers that checked already.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from core.reader_study.blinding import require_unblinded
from core.reader_study.schema import Answer, CaseAI, ReaderStudy, StudyCase
from core.store import session_scope
from core.store.users_schema import User
from core.text_safety import dataframe_to_csv

ANSWER_COLUMNS = ["study", "reader", "case_id", "case_key", "position", "phase", "version", "label", "confidence",
                  "free_text", "region", "seconds", "created", "changed_by", "truth", "ai_probability", "ai_label"]


def answers_frame(study_id: int, *, all_versions: bool = False, actor) -> pd.DataFrame:
    """Every answer of the study with truth and AI output (organizer view); latest versions unless asked."""
    require_unblinded(actor, "answers with ground truth")
    return answers_table(study_id, all_versions=all_versions)


def answers_table(study_id: int, *, all_versions: bool = False) -> pd.DataFrame:
    """The table of :func:`answers_frame` without an access check (the caller checked)."""
    with session_scope(write=False) as session:
        study = session.get(ReaderStudy, int(study_id))
        names = dict(session.execute(select(User.id, User.username)).all())
        cases = {c.id: c for c in session.scalars(select(StudyCase).where(StudyCase.study_id == int(study_id)))}
        ai = {a.case_id: a for a in session.scalars(select(CaseAI).where(CaseAI.case_id.in_(list(cases))))}
        rows = []
        for a in session.scalars(select(Answer).where(Answer.study_id == int(study_id))
                                 .order_by(Answer.user_id, Answer.case_id, Answer.phase, Answer.version)):
            c, out = cases[a.case_id], ai.get(a.case_id)
            prob = out.probability if out is not None else None
            rows.append({"study": study.name, "reader": names.get(a.user_id, str(a.user_id)), "case_id": a.case_id,
                         "case_key": c.case_key, "position": c.position, "phase": a.phase, "version": a.version,
                         "label": a.label, "confidence": a.confidence, "free_text": a.free_text,
                         "region": None if not a.region else ",".join(f"{v:g}" for v in a.region),
                         "seconds": a.seconds, "created": a.created, "changed_by": names.get(a.created_by),
                         "truth": c.truth, "ai_probability": prob,
                         "ai_label": _ai_label(out, study.positive_label, study.labels)})
    df = pd.DataFrame(rows, columns=ANSWER_COLUMNS)
    if not all_versions and not df.empty:
        df = df.sort_values("version").groupby(["reader", "case_id", "phase"], as_index=False).last()
        df = df[ANSWER_COLUMNS].sort_values(["reader", "phase", "position"]).reset_index(drop=True)
    return df


def _ai_label(out, positive: str, labels: list) -> str | None:
    if out is None:
        return None
    if out.predicted_class is not None:
        return out.predicted_class
    if out.probability is None:
        return None
    negatives = [x for x in labels if x != positive]
    return positive if out.probability >= 0.5 else (negatives[0] if len(negatives) == 1 else f"not {positive}")


def export_csv(study_id: int, *, actor) -> str:
    """Every answer version (who, when, what) with truth and AI output, as CSV text (formula-safe cells)."""
    require_unblinded(actor, "answers with ground truth")
    return answers_csv(study_id)


def answers_csv(study_id: int) -> str:
    """Every answer version as CSV text, without an access check (the caller checked)."""
    df = answers_table(study_id, all_versions=True)
    df["created"] = df["created"].map(lambda t: t.isoformat() if hasattr(t, "isoformat") else t)
    return dataframe_to_csv(df)
