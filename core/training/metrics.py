"""The run's headline numbers, recomputed from the pooled held-out predictions.

Why from the tables and not from per-fold summaries: DESIGN.md's rule (statistics are recomputed from stored
per-case predictions); and the papers' AUCs are out-of-fold at patient level: every patient is scored by the
fold model that never saw it, image scores are combined per patient (:mod:`core.training.aggregate`), and one
AUC is computed over all patients. With repeated random splits on a fixed test set (first-trimester protocol)
the test patients appear once per run, so the numbers are per run, then mean and standard deviation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from core.training.adapters import auc_or_nan
from core.training.aggregate import aggregate_scores


def _classification(oof: pd.DataFrame, *, aggregation: str, positive) -> dict:
    classes = [c[len("score_"):] for c in oof.columns if c.startswith("score_")]
    index = {c: i for i, c in enumerate(classes)}
    img_truth = oof["truth"].astype(str).map(index).to_numpy()
    img_probs = oof[[f"score_{c}" for c in classes]].to_numpy(dtype=float)
    pat = aggregate_scores(oof, method=aggregation, by=["fold", "patient_id"]) if "fold" in oof else \
        aggregate_scores(oof, method=aggregation)
    p_truth = pat["truth"].astype(str).map(index).to_numpy()
    p_probs = pat[[f"score_{c}" for c in classes]].to_numpy(dtype=float)
    if aggregation == "majority":
        p_probs = p_probs / np.clip(p_probs.sum(1, keepdims=True), 1e-12, None)
    out = {"auc": auc_or_nan(p_truth, p_probs), "auc_image": auc_or_nan(img_truth, img_probs),
           "accuracy": float(np.mean(p_probs.argmax(1) == p_truth)),
           "accuracy_image": float(np.mean(img_probs.argmax(1) == img_truth)),
           "n_patients": int(pat["patient_id"].nunique()), "n_images": int(len(oof)), "aggregation": aggregation}
    if len(classes) == 2:
        pos = classes.index(positive) if positive in classes else 1
        called = p_probs[:, pos] >= 0.5
        is_pos = p_truth == pos
        out["sensitivity"] = float(called[is_pos].mean()) if is_pos.any() else math.nan
        out["specificity"] = float((~called[~is_pos]).mean()) if (~is_pos).any() else math.nan
    return out


def _segmentation(per_case: pd.DataFrame) -> dict:
    return {"dice": float(per_case["dice"].mean()), "dice_sd": float(per_case["dice"].std(ddof=0)),
            "iou": float(per_case["iou"].mean()), "n_cases": int(len(per_case))}


def run_metrics(oof: pd.DataFrame | None, per_case: pd.DataFrame | None, *, aggregation: str = "mean",
                by_fold: bool = False, positive=None) -> dict:
    """Metrics of a run: classification keys (auc, auc_image, accuracy, ...) and/or segmentation (dice, iou)."""
    out: dict = {}
    if oof is not None and len(oof):
        if by_fold:
            per = [_classification(g, aggregation=aggregation, positive=positive) for _, g in oof.groupby("fold")]
            for key in ("auc", "auc_image", "accuracy", "sensitivity", "specificity"):
                vals = [p[key] for p in per if key in p]
                if vals:
                    out[key] = float(np.nanmean(vals)) if not all(map(math.isnan, vals)) else math.nan
                    out[f"{key}_sd"] = float(np.nanstd(vals)) if not all(map(math.isnan, vals)) else math.nan
            out.update(n_patients=int(oof["patient_id"].nunique()), n_images=int(len(oof)), aggregation=aggregation)
        else:
            out.update(_classification(oof, aggregation=aggregation, positive=positive))
    if per_case is not None and len(per_case):
        if by_fold:
            per = per_case.groupby("fold")["dice"].mean()
            out.update(_segmentation(per_case), dice=float(per.mean()), dice_sd=float(per.std(ddof=0)))
        else:
            out.update(_segmentation(per_case))
    return out
