"""Cases a clinician saves from the Analyze page: outcome, decision and note, never a patient identifier.

Why no identifier column: the store is shared by everyone who uses the dashboard and may be copied for
research; what identifies a patient stays in the hospital's own systems. The note is free text the clinician
writes, and the page says not to put identifiers into it.
"""

from __future__ import annotations

import math

from sqlalchemy import select

from core.store._values import plain
from core.store.engine import session_scope
from core.store.errors import StoreError
from core.store.schema import SavedCase

CASE_COLUMNS = ["id", "study", "bundle_id", "bundle_name", "probability", "decision", "override", "note",
                "rules", "created"]
MAX_NOTE = 5000


def save_case(*, study: str, probability: float | None = None, decision: str | None = None,
              override: str | None = None, note: str = "", bundle_id: int | None = None,
              bundle_name: str | None = None, rules: dict | None = None) -> int:
    """Keep one analysis outcome; returns its id."""
    if not study or not isinstance(study, str):
        raise StoreError("saved case: 'study' is required")
    if probability is not None:
        probability = float(probability)
        if not math.isfinite(probability) or not 0.0 <= probability <= 1.0:
            raise StoreError(f"saved case: probability {probability!r} is not in [0, 1]")
    note = str(note or "")
    if len(note) > MAX_NOTE:
        raise StoreError(f"saved case: note has {len(note)} characters, limit {MAX_NOTE}")
    with session_scope() as session:
        row = SavedCase(study=study, probability=probability, decision=decision, override=override, note=note,
                        bundle_id=bundle_id, bundle_name=bundle_name, rules=plain(rules) if rules else None)
        session.add(row)
        session.flush()
        return row.id


def list_cases(study: str | None = None):
    """Saved cases (optionally of one study), newest first, as a pandas DataFrame."""
    import pandas as pd

    query = select(SavedCase).order_by(SavedCase.id.desc())
    if study is not None:
        query = query.where(SavedCase.study == study)
    with session_scope(write=False) as session:
        rows = [{col: getattr(r, col) for col in CASE_COLUMNS} for r in session.scalars(query)]
    return pd.DataFrame(rows, columns=CASE_COLUMNS)
