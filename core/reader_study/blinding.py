"""Blinding across the whole product: who may see AI output or ground truth of reader-study cases.

Why a rule here and not only in the pages: a reader who can open Analyze, Evaluations or Models while their
study is unfinished can look up the AI output for the very cases they are about to read (the issue that
made this module: a reader found the showcase patient on Analyze and saw 0.149 before the unaided read).
So a user with an *unfinished* study (assigned, status draft or open, readings left) is "blinded": the
dashboard closes every page but Home and Read cases, and the core functions that return AI output or truth
(:func:`core.reader_study.ai.case_ai`, the organizer's answer tables) call :func:`require_unblinded` or
check the reader's own phase themselves.
"""

from __future__ import annotations

from sqlalchemy import func, select

from core.accounts import Account, get_user
from core.reader_study.errors import AccessDenied
from core.reader_study.schema import Answer, ReaderStudy, StudyReader
from core.reader_study.views import PHASES
from core.store import session_scope

UNBLINDED_ROLES = ("admin", "organizer")


def _user(actor):
    if isinstance(actor, Account):
        return get_user(actor.id)
    if actor is None:
        return None
    return get_user(int(actor)) if not isinstance(actor, str) else get_user(actor)


def unfinished_studies(user_id: int) -> list[str]:
    """Names of the studies (draft or open) in which this user still has readings to do."""
    out = []
    with session_scope(write=False) as session:
        rows = session.execute(select(ReaderStudy.id, ReaderStudy.name, ReaderStudy.design, StudyReader.case_order)
                               .join(StudyReader, StudyReader.study_id == ReaderStudy.id)
                               .where(StudyReader.user_id == int(user_id),
                                      ReaderStudy.status.in_(("draft", "open")))).all()
        for sid, name, design, order in rows:
            done = session.scalar(select(func.count()).select_from(Answer).where(
                Answer.study_id == sid, Answer.user_id == int(user_id), Answer.version == 1)) or 0
            if done < len(order) * len(PHASES[design]):
                out.append(name)
    return out


def is_blinded(actor) -> bool:
    """True when ``actor`` (Account, id or name) has an unfinished study (see module docstring)."""
    account = _user(actor)
    return account is not None and bool(unfinished_studies(account.id))


def require_unblinded(actor, what: str = "AI output and ground truth"):
    """The active account of ``actor`` when it may see ``what`` of study cases; AccessDenied otherwise.

    Allowed: admins and organizers who are not themselves readers with an unfinished study.
    """
    account = _user(actor)
    if account is None or not account.active:
        raise AccessDenied(f"{what}: sign in first")
    if account.role not in UNBLINDED_ROLES:
        raise AccessDenied(f"{what} of reader-study cases: for organizers and admins only")
    studies = unfinished_studies(account.id)
    if studies:
        raise AccessDenied(f"{what}: closed while your reading of {studies[0]} is unfinished")
    return account
