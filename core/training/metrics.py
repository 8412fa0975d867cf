"""The run's headline numbers, recomputed from the pooled held-out predictions, and the chance-level flag.

Why from the tables and not from per-fold summaries: DESIGN.md's rule (statistics are recomputed from stored
per-case predictions); and the papers' AUCs are out-of-fold at patient level: every patient is scored by the
fold model that never saw it, image scores are combined per patient (:mod:`core.training.aggregate`), and one
AUC is computed over all patients. With repeated random splits on a fixed test set (first-trimester protocol)
the test patients appear once per run, so the numbers are per run, then mean and standard deviation.

Image-level labels (DESIGN.md section 6): when one patient's images carry different labels (standard planes),
``auc`` is the image-level AUC (multi-class: macro one-vs-rest) and the patient level is reported only over the
patients whose labels agree (``auc_patient``, ``n_patients_agreeing``). ``level`` says which one ``auc`` is.

Why through :mod:`core.evaluation`: the run's AUC, sensitivity, specificity and CIs are the numbers a stored
evaluation of the same predictions shows (scikit-learn / pROC-checked functions, one positive-class rule,
:func:`core.tasks.positive_index`), not a second hand-written copy that can drift. Undefined values (a held-out
set with one class) are NaN here and explained by ``flag_reason``, so their UndefinedMetricWarnings are not
repeated on the console.

Why a flag: a run on too little or uninformative data still produces a bundle; one whose held-out metric is
NaN, or whose AUC 95 % CI contains 0.5, is marked ``flag = "not better than chance"`` so nobody mistakes it
for a working model (the store keeps the flag; making such a model the default needs a confirmation).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from core.evaluation import (UndefinedMetricWarning, binary_metrics, calibration_summary, cluster_bootstrap_ci,
                             delong_ci, roc_auc)
from core.evaluation.multiclass_auc import multiclass_auc
from core.tasks import positive_index
from core.training.aggregate import aggregate_scores

CHANCE_FLAG = "not better than chance"
N_BOOT = 300            # patient-cluster bootstrap replicates for image-level / multi-class AUC CIs


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(float(x))


def probability_auc(truth, probs) -> float:
    """ROC AUC of class-probability rows ``probs`` (N, K) against class indices ``truth``.

    Binary: column 1 (the positive class) scored by :func:`core.evaluation.roc_auc` (scikit-learn's
    ``roc_auc_score``). Multi-class: the macro one-vs-rest mean over the classes present
    (:func:`core.evaluation.multiclass_auc.multiclass_auc` ``ovr_macro``, which equals
    ``roc_auc_score(multi_class="ovr", average="macro")`` when every class is present), the value a stored
    evaluation reports. NaN with an :class:`~core.evaluation.UndefinedMetricWarning` for fewer than two classes.
    """
    truth = np.asarray(truth)
    probs = np.asarray(probs, dtype=float)
    if truth.size == 0:
        return math.nan
    if probs.shape[1] == 2:
        return roc_auc((truth == 1).astype(np.int8), probs[:, 1])
    return float(multiclass_auc(truth.astype(np.int64), probs)["ovr_macro"])


def auc_ci(truth: np.ndarray, probs: np.ndarray, groups, *, clustered: bool, seed: int = 0) -> tuple[float, float]:
    """95 % CI of the AUC: DeLong for one binary score per patient; else a bootstrap over whole patients.

    Why two methods: DeLong assumes independent cases, which holds for one score per patient; image-level
    scores of one patient are correlated, so the bootstrap resamples patients (clusters), as does the
    multi-class macro AUC, for which no DeLong form exists here.
    """
    truth = np.asarray(truth)
    if len(np.unique(truth)) < 2:
        return (math.nan, math.nan)
    if probs.shape[1] == 2:
        if not clustered:
            r = delong_ci((truth == 1).astype(int), probs[:, 1])
        else:
            r = cluster_bootstrap_ci((truth == 1).astype(int), probs[:, 1], np.asarray(groups, dtype=str),
                                     n_boot=N_BOOT, seed=seed)
        return (float(r["ci_low"]), float(r["ci_high"]))
    codes = pd.factorize(np.asarray(groups, dtype=str))[0]
    members = [np.flatnonzero(codes == k) for k in range(codes.max() + 1)]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(N_BOOT):
        idx = np.concatenate([members[k] for k in rng.integers(0, len(members), size=len(members))])
        v = probability_auc(truth[idx], probs[idx])
        if math.isfinite(v):
            values.append(v)
    if len(values) < N_BOOT // 2:
        return (math.nan, math.nan)
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))


def _calibration(truth: np.ndarray, probs: np.ndarray) -> dict:
    """Brier score and ECE of the positive-class probability (binary tasks only)."""
    if probs.shape[1] != 2 or len(np.unique(truth)) < 2:
        return {}
    r = calibration_summary((truth == 1).astype(int), np.clip(probs[:, 1], 0, 1), n_bins=10)
    return {"brier": float(r["brier"]), "ece": float(r["ece"])}


def _classification(oof: pd.DataFrame, *, aggregation: str, positive) -> dict:
    classes = [c[len("score_"):] for c in oof.columns if c.startswith("score_")]
    index = {c: i for i, c in enumerate(classes)}
    if len(classes) == 2:   # the positive class is column 1, whatever its name's sort order
        pos = positive_index(classes, positive)
        classes = [classes[1 - pos], classes[pos]]
        index = {c: i for i, c in enumerate(classes)}
    img_truth = oof["truth"].astype(str).map(index).to_numpy()
    img_probs = oof[[f"score_{c}" for c in classes]].to_numpy(dtype=float)
    key = ["fold", "patient_id"] if "fold" in oof else ["patient_id"]
    n_labels = oof.groupby(key)["truth"].nunique()
    agreeing = n_labels[n_labels == 1].reset_index()[key]
    mixed = int((n_labels > 1).sum())
    same = oof.merge(agreeing, on=key, how="inner")
    pat = aggregate_scores(same, method=aggregation, by=key) if len(same) else same
    p_truth = pat["truth"].astype(str).map(index).to_numpy() if len(pat) else np.zeros(0, int)
    p_probs = pat[[f"score_{c}" for c in classes]].to_numpy(dtype=float) if len(pat) else np.zeros((0, len(classes)))
    if aggregation == "majority" and len(p_probs):
        p_probs = p_probs / np.clip(p_probs.sum(1, keepdims=True), 1e-12, None)
    auc_patient = probability_auc(p_truth, p_probs)
    auc_image = probability_auc(img_truth, img_probs)
    image_level = mixed > 0
    out = {"auc": auc_image if image_level else auc_patient, "level": "image" if image_level else "patient",
           "auc_image": auc_image, "auc_patient": auc_patient,
           "accuracy": float(np.mean(img_probs.argmax(1) == img_truth)) if image_level else
           (float(np.mean(p_probs.argmax(1) == p_truth)) if len(p_truth) else math.nan),
           "accuracy_image": float(np.mean(img_probs.argmax(1) == img_truth)),
           "n_patients": int(oof["patient_id"].nunique()), "n_images": int(len(oof)),
           "n_patients_agreeing": int(pat["patient_id"].nunique()) if len(pat) else 0,
           "n_patients_mixed_labels": mixed, "aggregation": aggregation}
    if image_level:
        lo, hi = auc_ci(img_truth, img_probs, oof["patient_id"], clustered=True)
        truth_l, probs_l = img_truth, img_probs
    else:
        lo, hi = auc_ci(p_truth, p_probs, pat["patient_id"], clustered=False)
        truth_l, probs_l = p_truth, p_probs
    out["auc_ci"] = [lo, hi]
    if len(classes) == 2 and len(truth_l):
        m = binary_metrics((truth_l == 1).astype(np.int8), probs_l[:, 1], threshold=0.5)
        out["sensitivity"] = float(m["sensitivity"]["value"])
        out["specificity"] = float(m["specificity"]["value"])
        out.update(_calibration(truth_l, probs_l))
    return out


def _segmentation(per_case: pd.DataFrame) -> dict:
    """Mean Dice / IoU over the held-out cases where they are defined: a case whose truth and prediction are both
    empty has NaN Dice (:mod:`core.segmentation.metrics`' convention) and is left out of the mean (pandas skips
    NaN); ``n_cases_dice_undefined`` counts such cases."""
    return {"dice": float(per_case["dice"].mean()), "dice_sd": float(per_case["dice"].std(ddof=0)),
            "iou": float(per_case["iou"].mean()), "n_cases": int(len(per_case)),
            "n_cases_dice_undefined": int(per_case["dice"].isna().sum())}


def chance_flag(metrics: dict) -> str | None:
    """The reason a run is "not better than chance", or None when its held-out metric says otherwise.

    Classification: AUC NaN (a held-out set without both classes) or an AUC 95 % CI that contains 0.5.
    Segmentation / instance: the held-out Dice or mask mAP is NaN.
    """
    if "auc" in metrics:
        auc = metrics.get("auc")
        if not _finite(auc):
            return "held-out AUC is NaN (the held-out patients do not contain every class)"
        lo, hi = (list(metrics.get("auc_ci") or []) + [None, None])[:2]
        if not (_finite(lo) and _finite(hi)):
            return f"held-out AUC {float(auc):.3f} has no confidence interval (too few held-out cases)"
        if lo <= 0.5 <= hi:
            return f"held-out AUC {float(auc):.3f}, 95 % CI {lo:.3f}-{hi:.3f} contains 0.5"
        return None
    for key in ("dice", "mask_map50"):
        if key in metrics and not _finite(metrics.get(key)):
            return f"held-out {key} is NaN"
    return None


def flag_metrics(metrics: dict) -> dict:
    """``metrics`` with ``flag`` and ``flag_reason`` set (both None for a usable run)."""
    reason = chance_flag(metrics)
    return {**metrics, "flag": CHANCE_FLAG if reason else None, "flag_reason": reason}


def run_metrics(oof: pd.DataFrame | None, per_case: pd.DataFrame | None, *, aggregation: str = "mean",
                by_fold: bool = False, positive=None) -> dict:
    """Metrics of a run: classification keys (auc, auc_ci, auc_image, accuracy, ...) and/or segmentation (dice,
    iou), plus ``flag`` / ``flag_reason`` (:func:`chance_flag`).

    Undefined metrics are NaN in the result and their warnings are not repeated (``flag_reason`` says why).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return _run_metrics(oof, per_case, aggregation=aggregation, by_fold=by_fold, positive=positive)


def _run_metrics(oof, per_case, *, aggregation: str, by_fold: bool, positive) -> dict:
    out: dict = {}
    if oof is not None and len(oof):
        if by_fold:
            per = [_classification(g, aggregation=aggregation, positive=positive) for _, g in oof.groupby("fold")]
            for key in ("auc", "auc_image", "accuracy", "sensitivity", "specificity"):
                vals = [p[key] for p in per if key in p]
                if vals:
                    out[key] = float(np.nanmean(vals)) if not all(map(math.isnan, vals)) else math.nan
                    out[f"{key}_sd"] = float(np.nanstd(vals)) if not all(map(math.isnan, vals)) else math.nan
            # CI of the first run's test set (every run scores the same fixed test patients).
            out.update(auc_ci=per[0]["auc_ci"], level=per[0]["level"], n_patients=int(oof["patient_id"].nunique()),
                       n_images=int(len(oof)), aggregation=aggregation)
        else:
            out.update(_classification(oof, aggregation=aggregation, positive=positive))
    if per_case is not None and len(per_case):
        if by_fold:
            per = per_case.groupby("fold")["dice"].mean()
            out.update(_segmentation(per_case), dice=float(per.mean()), dice_sd=float(per.std(ddof=0)))
        else:
            out.update(_segmentation(per_case))
    return flag_metrics(out) if out else out
