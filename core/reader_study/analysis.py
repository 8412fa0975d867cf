"""Study results for organizers: accuracy per reader and pooled, unaided vs aided, readers vs AI vs reader + AI,
agreement, time per case, MRMC, and the CSV export of every answer version.

Why everything is recomputed from the stored answers: like evaluations (DESIGN.md section 3), a statistic added
later applies to every old study. Conventions: a reader's score for ROC analysis is their confidence (0-100)
that the case is the study's positive label, divided by 100; a reader's decision is their class label
(positive label vs the rest). "Reader + AI" treats the AI as a second reader (as the CNS paper's hybrid
reading): positive when either the reader or the AI calls it positive, score = mean of the reader's score
and the AI probability; it is built from the unaided reading (the reader's own opinion).

Multi-class studies ask one of K labels with the confidence in that answer; the score for the positive label
is then the confidence when the answer is the positive label, else (1 - confidence) / (K - 1) (the rest of
the belief spread over the other labels). Ordinal studies (5-point scale) also get weighted kappas.
Every public function takes the caller (``actor``) and refuses anyone but an unblinded organizer or admin,
because these tables hold the ground truth and the AI output of every case.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from core.evaluation import binary_metrics, delong_ci, delong_test
from core.reader_study.agreement import cohen_pairs, fleiss_from_labels
from core.reader_study.answers import ANSWER_COLUMNS, answers_frame, answers_table, export_csv
from core.reader_study.blinding import require_unblinded
from core.reader_study.figures import case_table, roc_points
from core.reader_study.mrmc import or_hillis, readers_vs_standalone
from core.reader_study.setup import get_study
from core.reader_study.views import PHASES

__all__ = ["ANSWER_COLUMNS", "answers_frame", "export_csv", "ordinal_rating", "results"]  # the first 3 from .answers


def _metrics_row(name: str, phase: str, truth, pred, score, seconds=None) -> dict:
    t = np.asarray(truth, dtype=int)
    row = {"reader": name, "phase": phase, "n": int(t.size), "n_pos": int(t.sum())}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = binary_metrics(t, y_pred=np.asarray(pred, dtype=int))
        for key in ("sensitivity", "specificity", "accuracy"):
            row[key], row[f"{key}_low"], row[f"{key}_high"] = (m[key]["value"], m[key]["ci_low"], m[key]["ci_high"])
        auc = delong_ci(t, np.asarray(score, dtype=float)) if score is not None else None
    row["auc"] = auc["auc"] if auc else math.nan
    row["auc_low"] = auc["ci_low"] if auc else math.nan
    row["auc_high"] = auc["ci_high"] if auc else math.nan
    s = pd.Series(seconds, dtype=float) if seconds is not None else pd.Series(dtype=float)
    row["mean_seconds"] = float(s.mean()) if s.notna().any() else math.nan
    row["median_seconds"] = float(s.median()) if s.notna().any() else math.nan
    return row


def _complete(df: pd.DataFrame, phase: str) -> pd.DataFrame:
    """Cases read by every reader in ``phase``: a pivot (cases x readers) of scores, labels, truth."""
    sub = df[df["phase"] == phase]
    readers = sorted(sub["reader"].unique())
    counts = sub.groupby("case_id")["reader"].nunique()
    keep = counts[counts == len(readers)].index
    return sub[sub["case_id"].isin(keep)].sort_values(["case_id", "reader"])


def _scores(df: pd.DataFrame, pos: str, n_labels: int, kind: str) -> pd.Series:
    conf = df["confidence"] / 100.0
    if kind == "binary":
        return conf
    return conf.where(df["label"] == pos, (1.0 - conf) / max(n_labels - 1, 1))


def results(study_id: int, *, actor) -> dict:
    """All study statistics (see the module docstring for the conventions)."""
    require_unblinded(actor, "study results")
    study = get_study(study_id)
    pos, labels = study["positive_label"], list(study["labels"])
    kind = (study["questions"] or {}).get("kind", "binary" if len(labels) == 2 else "multiclass")
    df = answers_table(study_id)
    out = {"study": study, "n_answers": int(len(df)), "readers": pd.DataFrame(), "unaided_vs_aided": pd.DataFrame(),
           "kappa": pd.DataFrame(), "fleiss": {}, "mrmc": {}, "weighted_kappa": pd.DataFrame(),
           "roc": {}, "cases": pd.DataFrame()}
    if df.empty:
        return out
    df = df.assign(y=(df["truth"] == pos).astype(int), pred=(df["label"] == pos).astype(int))
    df = df.assign(score=_scores(df, pos, len(labels), kind))
    rows = []
    for phase in PHASES[study["design"]]:
        sub = df[df["phase"] == phase]
        for reader, g in sub.groupby("reader"):
            rows.append(_metrics_row(reader, phase, g["y"], g["pred"], g["score"], g["seconds"]))
        if sub["reader"].nunique() > 1:
            pooled = _metrics_row("all readers (pooled)", phase, sub["y"], sub["pred"], None, sub["seconds"])
            pooled.update(_pooled_auc(_complete(df, phase)))
            rows.append(pooled)
    first = PHASES[study["design"]][0]
    ai_cases = df[df["ai_probability"].notna()].drop_duplicates("case_id")
    if not ai_cases.empty:
        rows.append(_metrics_row("AI", "stand-alone", ai_cases["y"], (ai_cases["ai_label"] == pos).astype(int),
                                 ai_cases["ai_probability"]))
        base = df[(df["phase"] == first) & df["ai_probability"].notna()]
        for reader, g in base.groupby("reader"):
            hybrid_pred = ((g["pred"] == 1) | (g["ai_label"] == pos)).astype(int)
            rows.append(_metrics_row(f"{reader} + AI", "second reader", g["y"], hybrid_pred,
                                     (g["score"] + g["ai_probability"]) / 2.0))
    out["readers"] = pd.DataFrame(rows)
    if study["design"] == "sequential":
        out["unaided_vs_aided"] = _paired_by_reader(df)
    out["kappa"], out["fleiss"] = _agreement(df, study["design"], labels)
    if (study["questions"] or {}).get("ordinal"):
        out["weighted_kappa"] = _weighted_kappa(df, study["design"])
    out["mrmc"] = _mrmc(df, study["design"])

    out["roc"] = roc_points(df, study["design"], pos)
    out["cases"] = case_table(df, study["design"])
    return out


def ordinal_rating(confidence) -> int:
    """The 5-point rating (1..5) of an ordinal answer stored as confidence 0, 25, 50, 75 or 100."""
    return int(min(5, max(1, round(float(confidence) / 25.0) + 1)))


def _weighted_kappa(df: pd.DataFrame, design: str) -> pd.DataFrame:
    """Linear and quadratic weighted kappa (with CIs) of every reader pair on the 5-point ratings."""
    rows = []
    for phase in PHASES[design]:
        complete = _complete(df, phase)
        if complete["reader"].nunique() < 2:
            continue
        rated = complete.assign(rating=complete["confidence"].map(ordinal_rating))
        piv = rated.pivot(index="case_id", columns="reader", values="rating").sort_index()
        by_reader = {r: piv[r].tolist() for r in piv.columns}
        for weights in ("linear", "quadratic"):
            rows += [{"phase": phase, **p} for p in cohen_pairs(by_reader, categories=[1, 2, 3, 4, 5],
                                                               weights=weights)]
    return pd.DataFrame(rows)


def _pooled_auc(complete: pd.DataFrame) -> dict:
    """Reader-averaged AUC with the OR single-test CI (needs >= 2 readers who read the same cases)."""
    try:
        scores, y = _score_matrix(complete)
        doubled = np.stack([scores, scores])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            single = or_hillis(y, doubled)["by_test"][0]
        return {"auc": single["estimate"], "auc_low": max(0.0, single["ci_low"]),
                "auc_high": min(1.0, single["ci_high"])}
    except Exception:  # noqa: BLE001 - too few cases or readers: the pooled AUC is undefined
        return {"auc": math.nan, "auc_low": math.nan, "auc_high": math.nan}


def _score_matrix(complete: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    piv = complete.pivot(index="case_id", columns="reader", values="score").sort_index()
    y = complete.drop_duplicates("case_id").set_index("case_id")["y"].loc[piv.index].to_numpy()
    return piv.to_numpy().T, y


def _paired_by_reader(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for reader, g in df.groupby("reader"):
        piv = g.pivot(index="case_id", columns="phase", values="score").dropna()
        if not {"unaided", "aided"} <= set(piv.columns) or piv.empty:
            continue
        y = g.drop_duplicates("case_id").set_index("case_id")["y"].loc[piv.index]
        lab = g.pivot(index="case_id", columns="phase", values="pred").loc[piv.index]
        row = {"reader": reader, "n": len(piv),
               "changed_decisions": int((lab["unaided"] != lab["aided"]).sum())}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                test = delong_test(y, piv["aided"], piv["unaided"])
                row.update(auc_unaided=test["auc2"], auc_aided=test["auc1"], difference=test["difference"],
                           difference_low=test["difference_ci"][0], difference_high=test["difference_ci"][1],
                           p_value=test["p_value"])
            except Exception:  # noqa: BLE001 - one class only among the cases read so far
                row.update(auc_unaided=math.nan, auc_aided=math.nan, difference=math.nan, p_value=math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def _agreement(df: pd.DataFrame, design: str, labels: list):
    pairs, fleiss = [], {}
    for phase in PHASES[design]:
        complete = _complete(df, phase)
        if complete["reader"].nunique() < 2:
            continue
        piv = complete.pivot(index="case_id", columns="reader", values="label").sort_index()
        by_reader = {r: piv[r].tolist() for r in piv.columns}
        pairs += [{"phase": phase, **p} for p in cohen_pairs(by_reader, categories=labels)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fleiss[phase] = {"kappa": fleiss_from_labels(by_reader, categories=labels), "n_cases": len(piv),
                             "n_readers": len(by_reader)}
    return pd.DataFrame(pairs), fleiss


def _mrmc(df: pd.DataFrame, design: str) -> dict:
    """OR/Hillis analyses that the design and the answers allow; a reason instead where one is not possible."""
    out = {}

    def attempt(key, fn):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[key] = fn()
        except Exception as err:  # noqa: BLE001 - shown to the organizer as the reason
            out[key] = {"error": str(err)}

    phases = PHASES[design]
    if design == "sequential":
        both = df[df["phase"].isin(phases)]
        full = both.groupby("case_id").filter(lambda g: len(g) == 2 * both["reader"].nunique())

        def aided_vs_unaided():
            mats = [_score_matrix(full[full["phase"] == p]) for p in ("aided", "unaided")]
            return or_hillis(mats[0][1], np.stack([mats[0][0], mats[1][0]]), tests=["aided", "unaided"],
                             readers=sorted(full["reader"].unique()))
        attempt("aided_vs_unaided", aided_vs_unaided)
    for phase in phases:
        complete = _complete(df[df["ai_probability"].notna()], phase)

        def vs_ai(complete=complete, phase=phase):
            scores, y = _score_matrix(complete)
            ai = complete.drop_duplicates("case_id").set_index("case_id")["ai_probability"].sort_index().to_numpy()
            return readers_vs_standalone(y, scores, ai, label=f"readers ({phase})")
        attempt(f"{phase}_vs_ai", vs_ai)
    return out
