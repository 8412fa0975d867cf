"""Patient-level predictions from image-level scores: mean (default), max, or majority vote.

Why: the miscarriage study predicts a patient from two planes, the CNS study from all images and clip frames
of an examination; the patient, not the picture, is what a clinician decides about and what the papers' AUCs
count. ``majority`` returns the fraction of a patient's images called positive (score >= threshold), so it
is still a score an ROC curve can use; ties at 0.5 stay 0.5.

>>> import pandas as pd
>>> df = pd.DataFrame({"patient_id": ["a", "a", "b"], "score": [0.2, 0.8, 0.4]})
>>> aggregate_scores(df, method="max")["score"].tolist()
[0.8, 0.4]
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from core.errors import InputError

METHODS = ("mean", "max", "majority")


def aggregate_scores(df: pd.DataFrame, *, method: str = "mean", by: Sequence[str] | str = "patient_id",
                     score_cols: Sequence[str] | None = None, threshold: float = 0.5,
                     keep: Sequence[str] = ("truth",)) -> pd.DataFrame:
    """One row per group of ``by`` with each of ``score_cols`` (default: "score" and every "score_*" column)
    combined by ``method``; columns in ``keep`` take the group's first value (e.g. the patient's truth)."""
    if method not in METHODS:
        raise InputError(f"aggregation {method!r}; choose one of {', '.join(METHODS)}")
    by = [by] if isinstance(by, str) else list(by)
    if score_cols is None:
        score_cols = [c for c in df.columns if c == "score" or c.startswith("score_")]
    missing = [c for c in [*by, *score_cols] if c not in df.columns]
    if missing:
        raise InputError(f"aggregate_scores: column {missing[0]!r} not in the table")
    grouped = df.groupby(by, sort=True, dropna=False)
    if method == "mean":
        out = grouped[list(score_cols)].mean()
    elif method == "max":
        out = grouped[list(score_cols)].max()
    else:
        out = (df[list(score_cols)] >= threshold).astype(float).groupby([df[c] for c in by]).mean()
    out["n_images"] = grouped.size()
    for col in keep:
        if col in df.columns:
            out[col] = grouped[col].first()
    return out.reset_index()
