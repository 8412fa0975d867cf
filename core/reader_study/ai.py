"""AI output per study case: computed once through ``core.pipeline.analyze`` and cached in the store.

Why cached: every reader of a study must see the same AI output for a case (same probability, same Grad-CAM
overlay, same rules), whatever machine or model version answers later, and the analysis compares readers with
exactly that output. Two processes computing the same case at once is harmless: the unique key on
``case_id`` keeps the first row, the second process reads it back.

Why :func:`case_ai` takes the caller: the AI output of a study case is exactly what a blinded reader must
not see before their unaided answer, so the function itself checks who asks (an unblinded organizer or admin,
or a reader of that study in a phase that shows the AI) instead of trusting every caller to have checked.
"""

from __future__ import annotations

import cv2
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.accounts import Account
from core.errors import InputError
from core.reader_study.blinding import require_unblinded
from core.reader_study.errors import AccessDenied
from core.reader_study.schema import Answer, CaseAI, ReaderStudy, StudyCase, StudyReader
from core.store import session_scope

AI_FIELDS = ("probability", "probabilities", "predicted_class", "rules", "overlay_png", "model", "warnings")


def _png(rgb) -> bytes | None:
    if rgb is None:
        return None
    ok, buf = cv2.imencode(".png", rgb[..., ::-1])
    return buf.tobytes() if ok else None


def _compute(images: list, clinical: dict, *, bundle_path: str | None, positive_label: str) -> dict:
    """AI output for one case; a case the model cannot read gets no probability and a warning."""
    if bundle_path is None:
        return {"probability": None, "probabilities": None, "predicted_class": None, "rules": None,
                "overlay_png": None, "model": None, "warnings": ["no AI model for this study"]}
    from core.pipeline import analyze   # torch and the models: loaded when a study's AI output is first computed

    try:
        res = analyze(images, dict(clinical or {}), model=_predictor(bundle_path), cam="gradcam",
                      uncertainty=False)
    except InputError as err:
        return {"probability": None, "probabilities": None, "predicted_class": None, "rules": None,
                "overlay_png": None, "model": bundle_path, "warnings": [str(err)]}
    probs = res.probabilities or {}
    prob = probs.get(positive_label, res.probability if len(probs) <= 2 else None)
    overlay = next((r.overlay for r in res.images if r.overlay is not None), None)
    return {"probability": None if prob is None else float(prob), "probabilities": dict(probs) or None,
            "predicted_class": res.predicted_class, "rules": res.rules, "overlay_png": _png(overlay),
            "model": bundle_path, "warnings": list(res.warnings)}


_PREDICTORS: dict = {}


def _predictor(bundle_path: str):
    """One loaded predictor per bundle and process (loading is the slow part of a case)."""
    if bundle_path not in _PREDICTORS:
        from core.models import load_predictor   # torch: see _compute

        _PREDICTORS[bundle_path] = load_predictor(bundle_path)
    return _PREDICTORS[bundle_path]


def check_may_see(case_id: int, actor) -> None:
    """AccessDenied unless ``actor`` (Account or user id) may see the AI output of this study case."""
    user_id = actor.id if isinstance(actor, Account) else actor
    if user_id is None:
        raise AccessDenied("AI output of a study case: sign in first")
    with session_scope(write=False) as session:
        case = session.get(StudyCase, int(case_id))
        if case is None:
            raise AccessDenied(f"study case {case_id} does not exist")
        study = session.get(ReaderStudy, case.study_id)
        reader = session.scalar(select(StudyReader.id).where(StudyReader.study_id == study.id,
                                                             StudyReader.user_id == int(user_id)))
        if reader is not None:
            if study.design == "unaided":
                raise AccessDenied(f"study {study.name} is read without AI")
            if study.design == "sequential" and session.scalar(select(Answer.id).where(
                    Answer.case_id == case.id, Answer.user_id == int(user_id), Answer.phase == "unaided")) is None:
                raise AccessDenied("the AI output of a case opens only after its unaided answer is saved")
            return
    require_unblinded(int(user_id), "AI output")


def case_ai(case_id: int, *, actor) -> dict:
    """The cached AI output of a study case for ``actor`` (see :func:`check_may_see`), computed on first use."""
    check_may_see(case_id, actor)
    return _case_ai(case_id)


def _case_ai(case_id: int) -> dict:
    """The cached AI output (no access check: callers are this module and checked callers)."""
    with session_scope(write=False) as session:
        row = session.scalar(select(CaseAI).where(CaseAI.case_id == int(case_id)))
        if row is not None:
            return {f: getattr(row, f) for f in AI_FIELDS}
        case = session.get(StudyCase, int(case_id))
        study = session.get(ReaderStudy, case.study_id)
        images, clinical = list(case.images), dict(case.clinical or {})
        bundle_path, positive = study.bundle_path, study.positive_label
    out = _compute(images, clinical, bundle_path=bundle_path, positive_label=positive)
    try:
        with session_scope() as session:
            session.add(CaseAI(case_id=int(case_id), **out))
    except IntegrityError:
        return _case_ai(case_id)
    return out


def precompute(study_id: int, *, progress=None) -> int:
    """Compute the AI output of every case of a study that has none yet; returns how many were computed."""
    with session_scope(write=False) as session:
        done = set(session.scalars(select(CaseAI.case_id).join(StudyCase, StudyCase.id == CaseAI.case_id)
                                   .where(StudyCase.study_id == int(study_id))))
        todo = [c for c in session.scalars(select(StudyCase.id).where(StudyCase.study_id == int(study_id))
                                           .order_by(StudyCase.position)) if c not in done]
    for k, cid in enumerate(todo):
        _case_ai(cid)       # computed and stored, not returned: no one sees it here
        if progress is not None:
            progress(k + 1, len(todo))
    return len(todo)
