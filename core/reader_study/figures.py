"""What the study results chart and per-case table are drawn from (plain data; the page draws it).

Why computed in core: the ROC of the AI and each reader's operating points are statistics like the others
(recomputed from stored answers), and a script can draw the same figure for a paper without the dashboard.
A reader's operating point is (1 - specificity, sensitivity) of their class decisions against the truth,
one per phase, so the chart can join a reader's unaided and aided points with an arrow.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from core.reader_study.session import PHASES

NOT_DEFINED = "not defined: needs both classes"


def _rate(hits: int, total: int) -> float:
    return hits / total if total else math.nan


def roc_points(df: pd.DataFrame, design: str, positive: str) -> dict:
    """{"ai": {"fpr", "tpr", "auc", "n"} or None (with "ai_note"), "readers": [{"reader", "phase", "fpr",
    "tpr", "n"}]}; ``df`` is the analysis frame (columns y, pred, reader, phase, case_id, ai_probability)."""
    out: dict = {"ai": None, "ai_note": "", "readers": [], "positive": positive}
    cases = df.drop_duplicates("case_id")
    scored = cases[cases["ai_probability"].notna()]
    if scored.empty:
        out["ai_note"] = "no AI output for these cases (unaided design, or not computed yet)"
    elif scored["y"].nunique() < 2:
        out["ai_note"] = f"AI ROC {NOT_DEFINED}"
    else:
        from sklearn.metrics import roc_auc_score, roc_curve

        fpr, tpr, _ = roc_curve(scored["y"], scored["ai_probability"])
        out["ai"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "n": int(len(scored)),
                     "auc": float(roc_auc_score(scored["y"], scored["ai_probability"]))}
    for phase in PHASES[design]:
        for reader, g in df[df["phase"] == phase].groupby("reader"):
            pos, neg = g[g["y"] == 1], g[g["y"] == 0]
            out["readers"].append({"reader": reader, "phase": phase, "n": int(len(g)),
                                   "tpr": _rate(int(pos["pred"].sum()), len(pos)),
                                   "fpr": _rate(int(neg["pred"].sum()), len(neg))})
    return out


def case_table(df: pd.DataFrame, design: str) -> pd.DataFrame:
    """One row per case: number, key, truth, AI probability and label, then each reader's answer per phase."""
    base = df.drop_duplicates("case_id").sort_values("position")
    table = pd.DataFrame({"case": base["position"].to_numpy() + 1, "case key": base["case_key"].to_numpy(),
                          "truth": base["truth"].to_numpy(),
                          "AI probability": [("—" if p is None or (isinstance(p, float) and math.isnan(p))
                                              else f"{p:.3f}") for p in base["ai_probability"]],
                          "AI label": [v if isinstance(v, str) else "—" for v in base["ai_label"]]},
                         index=base["case_id"].to_numpy())
    for phase in PHASES[design]:
        sub = df[df["phase"] == phase]
        for reader, g in sub.groupby("reader"):
            g = g.set_index("case_id")
            text = g["label"] + " (" + g["confidence"].map(lambda c: f"{c:.0f}") + ")"
            changed = g["version"] > 1
            text = text.where(~changed, text + " · v" + g["version"].astype(str))
            table[f"{reader} · {phase}"] = text.reindex(table.index).fillna("—")
    return table.reset_index(drop=True)


def fmt(value, digits: int = 3, *, undefined: str = NOT_DEFINED) -> str:
    """A number for a results table; NaN / None become ``undefined`` instead of 'nan' or 'None'."""
    if value is None:
        return undefined
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return undefined if not np.isfinite(v) else f"{v:.{digits}f}"
