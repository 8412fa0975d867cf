"""Rate a stored evaluation (or a bundle's metrics) against the demo targets, so a weak model says so.

Why: the pages show whatever the store holds. A demo model whose AUC is 0.036 (scores inverted) or whose
scores all sit between 0.34 and 0.54 (collapsed) looks, on a ROC plot, like any other evaluation unless
something says it is broken. The figures are recomputed here from per-case rows (patient level: the mean
score per patient, as the studies aggregate), never taken from a stored summary.

Targets (issue 19, item 3; core.demo.DemoSpec.targets; each on at least MIN_PATIENTS held-out patients):
miscarriage patient AUC >= 0.80; preterm Dice >= 0.90 and AUC >= 0.70; CNS patient-level accuracy >= 0.85;
first trimester mask mAP@0.5 >= 0.70.
A task without targets gets only the task-independent checks (inverted, collapsed, too few patients).

>>> import pandas as pd
>>> cases = pd.DataFrame({"patient_id": list("abcd"), "truth": ["term", "preterm"] * 2,
...                       "score": [0.6, 0.4, 0.55, 0.45]})
>>> [f.status for f in rate("preterm", cases=cases, class_names=["term", "preterm"])]
['too_few_patients', 'inverted', 'collapsed']
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.demo import DEMO_SPECS
from core.tasks import positive_index

MIN_PATIENTS = 60
COLLAPSED_SPREAD = 0.25     # 5th..95th percentile of the scores narrower than this: the model barely decides
# Read from the demo specs (core.demo.DemoSpec.targets), the one place a study's demo targets are written.
DEMO_TARGETS = {spec.study: spec.targets for spec in DEMO_SPECS if spec.targets}
_LABELS = {"auc": "patient-level AUC", "dice": "held-out Dice", "accuracy": "patient-level accuracy",
           "mask_map50": "mask mAP@0.5"}


@dataclass(frozen=True)
class Finding:
    metric: str
    value: float | None
    target: float | None
    status: str               # "meets" | "below_target" | "inverted" | "collapsed" | "too_few_patients"
    message: str

    @property
    def is_problem(self) -> bool:
        return self.status != "meets"


def _patient_scores(cases: pd.DataFrame, class_names: list) -> tuple[np.ndarray, np.ndarray, str]:
    """(truth index per patient, score matrix per patient, kind) with scores averaged over a patient's rows."""
    df = cases.copy()
    df["patient_id"] = df["patient_id"].astype(str)
    truth = df.groupby("patient_id")["truth"].first()
    index = {c: i for i, c in enumerate(class_names)}
    y = truth.map(lambda t: index.get(str(t), t)).to_numpy()
    if "scores" in df.columns and df["scores"].notna().all():
        mat = pd.DataFrame(df["scores"].tolist(), index=df["patient_id"]).groupby(level=0).mean()
        return y, mat.loc[truth.index].to_numpy(float), "multiclass"
    prob_cols = [f"p_{c}" for c in class_names]
    if len(class_names) > 2 and all(c in df.columns for c in prob_cols):
        mat = df.groupby("patient_id")[prob_cols].mean().loc[truth.index]
        return y, mat.to_numpy(float), "multiclass"
    score = df.groupby("patient_id")["score"].mean().loc[truth.index].to_numpy(float)
    return y, score, "binary"


def _auc(y, score) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y).astype(int)
    return float(roc_auc_score(y, score)) if len(set(y.tolist())) == 2 else math.nan


def case_metrics(cases: pd.DataFrame, class_names: list, positive_label=None) -> dict:
    """Patient-level ``auc`` (binary) or ``accuracy`` (multi-class), ``n_patients``, ``score_spread``."""
    y, s, kind = _patient_scores(cases, list(class_names))
    out = {"n_patients": int(len(y))}
    if kind == "binary":
        pos = positive_index(class_names, positive_label)
        out["auc"] = _auc((np.asarray(y) == pos).astype(int), s)
        out["score_spread"] = float(np.percentile(s, 95) - np.percentile(s, 5)) if len(s) else math.nan
        out["score_range"] = (float(s.min()), float(s.max())) if len(s) else None
    else:
        out["accuracy"] = float(np.mean(s.argmax(1) == np.asarray(y).astype(int))) if len(y) else math.nan
    return out


def rate(task: str, *, cases: pd.DataFrame | None = None, class_names=None, positive_label=None,
         metrics: dict | None = None) -> list[Finding]:
    """Findings for one evaluation: ``cases`` (the store's per-case rows) and/or ``metrics`` (a bundle's or
    run's metrics, for what per-case rows do not hold: Dice, mask mAP). Problems first."""
    values = dict(metrics or {})
    found: list[Finding] = []
    if cases is not None and len(cases):
        names = list(class_names or sorted(cases["truth"].astype(str).unique()))
        cm = case_metrics(cases, names, positive_label)
        values.update({k: v for k, v in cm.items() if k in ("auc", "accuracy")})
        n = cm["n_patients"]
        if n < MIN_PATIENTS:
            found.append(Finding("n_patients", n, MIN_PATIENTS, "too_few_patients",
                                 f"only {n} held-out patients (the targets need at least {MIN_PATIENTS}); "
                                 "the figures are too uncertain to judge"))
        auc = cm.get("auc")
        if auc is not None and math.isfinite(auc) and auc < 0.5:
            found.append(Finding("auc", auc, 0.5, "inverted",
                                 f"AUC {auc:.3f} is below chance: the scores are inverted or meaningless"))
        spread = cm.get("score_spread")
        if spread is not None and math.isfinite(spread) and spread < COLLAPSED_SPREAD:
            lo, hi = cm["score_range"]
            found.append(Finding("score_spread", spread, COLLAPSED_SPREAD, "collapsed",
                                 f"the scores are collapsed: all between {lo:.2f} and {hi:.2f}"))
    flagged = {f.metric for f in found if f.status == "inverted"}
    for metric, target in DEMO_TARGETS.get(task, ()):
        value = values.get(metric)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        value = float(value)
        ok = value >= target
        if metric in flagged and not ok:
            continue                        # already said, more strongly
        found.append(Finding(metric, value, target, "meets" if ok else "below_target",
                             f"{_LABELS.get(metric, metric)} {value:.3f} "
                             + (f"meets the target {target:.2f}" if ok else f"is below the target {target:.2f}")))
    return sorted(found, key=lambda f: not f.is_problem)


def warning_text(findings: list[Finding]) -> str | None:
    """One line for a page (``st.warning``) when any finding is a problem, else None."""
    problems = [f.message for f in findings if f.is_problem]
    return ("Weak model: " + "; ".join(problems) + ".") if problems else None


def figures_text(findings: list[Finding], n_patients: int | None = None) -> str | None:
    """One line with every target figure, met or not (a page shows it under the evaluation, so the demo's
    figures are on screen, not only its failures); None when the task has no targets.

    >>> figures_text([Finding("auc", 0.83, 0.8, "meets", "")], 240)
    'Demo targets: patient-level AUC 0.830 (target >= 0.80, met) on 240 held-out patients.'
    """
    parts = [f"{_LABELS.get(f.metric, f.metric)} {f.value:.3f} (target >= {f.target:.2f}, "
             f"{'met' if f.status == 'meets' else 'not met'})"
             for f in findings if f.metric in _LABELS and f.target is not None and f.value is not None
             and f.status in ("meets", "below_target")]
    if not parts:
        return None
    where = f" on {int(n_patients)} held-out patients" if n_patients else ""
    return "Demo targets: " + "; ".join(parts) + where + "."


def rate_evaluation(meta: dict, cases: pd.DataFrame) -> list[Finding]:
    """:func:`rate` for a stored evaluation (``core.store.load_evaluation``): task, class names and positive
    label from its meta; Dice / mask mAP from its bundle's model.json metrics when the bundle is still there."""
    from pathlib import Path

    metrics = {}
    path = meta.get("bundle_path")
    if path and (Path(path) / "model.json").is_file():
        from core.models.bundle import read_meta

        try:
            metrics = {k: v for k, v in read_meta(Path(path)).metrics.items()
                       if isinstance(v, (int, float))}
        except Exception:  # noqa: BLE001 - an unreadable bundle only loses the bundle-level checks
            metrics = {}
    return rate(str(meta.get("task")), cases=cases, class_names=meta.get("class_names") or None,
                positive_label=meta.get("positive_label"), metrics=metrics)
