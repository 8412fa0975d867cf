"""The classifier steps of :func:`core.pipeline.analyze`: probabilities per image and per patient,
uncertainty (ensemble spread or test-time augmentation), Grad-CAM, the out-of-distribution check that
withholds a decision, and the ROAD faithfulness score computed on request (:func:`add_faithfulness`).

Why together: they share one preprocessed tensor per analysis and the lock of the shared predictor (its
Grad-CAM hooks must not record another session's forward passes).
"""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import torch
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from core.analysis_result import Analysis
from core.errors import InputError
from core.explain.cam import compute_cams, road_faithfulness
from core.explain.overlay import overlay_cam, resize_map
from core.models import load_predictor
from core.ood import ood_scores
from core.segmentation.roi import paste_map

AGGREGATIONS = ("mean", "max", "majority")


def _model_lock(predictor):
    """The lock of a shared (st.cache_resource) predictor, held while analyze() runs it.

    Why: Grad-CAM attaches hooks to the network itself, and a hook records *every* forward pass made while it
    is attached. Without the lock another session's prediction on the same cached model would be recorded
    as this session's activations: a wrong heat map, computed partly from another patient's image.
    """
    if predictor is None:
        return contextlib.nullcontext()
    return predictor.__dict__.setdefault("_analyze_lock", threading.RLock())


def _resolve_predictor(model):
    if model is None or hasattr(model, "predict_proba"):
        return model

    return load_predictor(model)


def _aggregate(probs: np.ndarray, how: str) -> np.ndarray:
    if how == "mean":
        return probs.mean(axis=0)
    if how == "max":
        return probs.max(axis=0)
    if how == "majority":
        votes = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1]).astype(float)
        return votes / votes.sum()
    raise InputError(f"unknown aggregation {how!r}; choose one of: {', '.join(AGGREGATIONS)}")


def _tta_views(x):
    """Test-time augmentation views of the network input: identity, horizontal flip, and shifts of 2 % of the
    width (no label change). Made on the preprocessed tensor, so a sac-ROI bundle does not re-run the level
    set on every shifted picture."""
    step = max(1, round(0.02 * x.shape[-1]))
    views = []
    for shift in (0, step, -step):
        shifted = torch.roll(x, shift, dims=-1) if shift else x
        views += [shifted, torch.flip(shifted, dims=[-1])]
    return views


def _uncertainty(predictor, x, positive: int, how: str) -> dict:
    """Spread of the patient-level probability: ensemble members when there are several, else TTA.
    ``x`` is the preprocessed batch of the patient's images."""
    members = getattr(predictor.model, "members", None)
    if members is not None and len(members) > 1:
        with torch.inference_mode():
            member_p = [predictor._class_proba(m(x)).float().cpu().numpy() for m in members]
        values = np.array([_aggregate(p, how)[positive] for p in member_p])
        method = "ensemble"
    else:
        values = np.array([_aggregate(predictor.predict_proba(v), how)[positive] for v in _tta_views(x)])
        method = "tta"
    return {"method": method, "n": int(values.size), "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0,
            "interval": [float(values.min()), float(values.max())]}


def _net(predictor):
    return predictor.model.members[0] if hasattr(predictor.model, "members") else predictor.model


def _explain(predictor, images: list, x, results: list, *, method: str, target: int, alpha: float):
    cams, _ = compute_cams(_net(predictor), x, arch=predictor.meta.architecture, method=method,
                           target_class=target)
    boxes = predictor.roi_boxes(images) if predictor.roi != "image" else [None] * len(results)
    for res, cam, box in zip(results, cams, boxes):
        res.net_cam = cam
        # A model that saw the sac's square explains that square: its map goes back to where the square lies.
        res.cam = resize_map(cam, res.image.shape[:2]) if box is None else paste_map(cam, box, res.image.shape[:2])
        res.overlay = overlay_cam(res.image, res.cam, alpha=alpha)


def add_faithfulness(analysis: Analysis, model, *, percentiles=(20, 50, 80)) -> list:
    """ROAD faithfulness of each image's heat map (core.explain.cam.road_faithfulness), written into the
    results and returned. Separate from :func:`analyze` because it costs many forward passes: the page draws
    the first result, then asks for this. Images without a heat map get None."""
    predictor = _resolve_predictor(model)
    todo = [r for r in analysis.images if getattr(r, "net_cam", None) is not None]
    if predictor is None or not todo or analysis.predicted_class not in analysis.class_names:
        return [r.faithfulness for r in analysis.images]
    target = analysis.class_names.index(analysis.predicted_class)
    t0 = time.perf_counter()
    with _model_lock(predictor):
        x = predictor.preprocess([r.image for r in todo]).to(predictor.device)
        cams = np.stack([r.net_cam for r in todo])
        scores = road_faithfulness(_net(predictor), x, cams, [ClassifierOutputTarget(target)] * len(todo),
                                   percentiles=percentiles)
    for r, score in zip(todo, scores):
        r.faithfulness = float(score)
    analysis.timings_ms["faithfulness"] = round((time.perf_counter() - t0) * 1000, 1)
    return [r.faithfulness for r in analysis.images]


def _classify(analysis: Analysis, predictor, results: list, *, cam, cam_alpha, uncertainty,
              timings: dict, t0: float, x=None) -> None:
    """``x``: the images already preprocessed (analyze() does it once); else preprocessed here, once."""
    images = [r.image for r in results]
    if x is None:
        x = predictor.preprocess(images).to(predictor.device)  # once: probability, uncertainty, CAM, OOD
    probs = predictor.predict_proba(x)
    positive = predictor.positive_index
    for r, p in zip(results, probs):
        r.probabilities = p
        r.probability = float(p[positive]) if positive is not None else float(p.max())
    patient = _aggregate(probs, analysis.aggregation)
    names = analysis.class_names
    analysis.probabilities = {n: float(v) for n, v in zip(names, patient)}
    if positive is not None:
        analysis.positive_label = names[positive]
        analysis.probability = float(patient[positive])
        is_positive = analysis.probability >= analysis.threshold
        analysis.predicted_class = names[positive] if is_positive else names[1 - positive]
    else:
        analysis.probability = float(patient.max())
        analysis.predicted_class = names[int(patient.argmax())]
    analysis.decision = analysis.predicted_class
    timings["classification"] = (time.perf_counter() - t0) * 1000 - sum(timings.values())
    # Uncertainty is about the positive class; the heat map explains the decision (the predicted class),
    # the Grad-CAM convention: "where did the model look to decide what it decided".
    target = positive if positive is not None else int(patient.argmax())
    decided = names.index(analysis.predicted_class)
    if uncertainty:
        analysis.uncertainty = _uncertainty(predictor, x, target, analysis.aggregation)
        timings["uncertainty"] = (time.perf_counter() - t0) * 1000 - sum(timings.values())
    if cam:
        analysis.cam_method = cam
        _explain(predictor, images, x, results, method=cam, target=decided, alpha=cam_alpha)
        timings["explanation"] = (time.perf_counter() - t0) * 1000 - sum(timings.values())
    _flag_out_of_distribution(analysis, predictor, results, x)
    timings["ood_check"] = (time.perf_counter() - t0) * 1000 - sum(timings.values())


def _flag_out_of_distribution(analysis: Analysis, predictor, results: list, x) -> None:
    """Per image OOD scores; any image out of distribution withholds the patient's decision."""
    calibration = predictor.meta.ood
    if not calibration:
        return
    for i, r in enumerate(results):
        r.ood = ood_scores(predictor, r.image, calibration, tensor=x[i:i + 1])
        if r.ood["out_of_distribution"]:
            r.warnings.append(f"{r.name}: this image looks unlike the model's training data "
                              f"(score {r.ood['score']:.1f}, above 1 = unusual); do not trust the prediction")
    unusual = [r for r in results if r.ood["out_of_distribution"]]
    score = max(r.ood["score"] for r in results)
    reason = (None if not unusual else
              f"{', '.join(sorted({r.name for r in unusual}))} unlike the model's training data "
              f"(out-of-distribution score {score:.1f}; above 1 = unusual)")
    analysis.ood = {"out_of_distribution": bool(unusual), "score": float(score),
                    "files": sorted({r.name for r in unusual}), "reason": reason}
    if unusual:
        analysis.decision_withheld = True
        analysis.decision = None
