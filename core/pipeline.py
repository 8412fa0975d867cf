"""``analyze()``: one patient's images and measurements -> one :class:`Analysis` (DESIGN.md section 3).

Why one call: the dashboard, ``python -m core predict`` and scripts must give the same answer for the same
patient. The steps: input gate -> preprocessing (calipers inpainted, banner masked, fan found) ->
segmentation (network bundle or level set) -> classification per image -> patient-level probability ->
Grad-CAM per image -> rules from clinical values -> uncertainty (ensemble spread, or test-time augmentation
for a single model) -> out-of-distribution warning. :class:`Analysis` is a plain dataclass; ``to_dict()``
gives the JSON the command line prints.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import InputError

AGGREGATIONS = ("mean", "max", "majority")


@dataclass
class Clinical:
    """Clinical values entered by the clinician (None = not measured)."""

    ga_weeks: float | None = None
    crl_mm: float | None = None
    fhr_bpm: float | None = None


@dataclass
class ImageResult:
    """Everything computed for one image (or one kept cine frame), at the image's original size."""

    name: str
    kind: str
    frame: int
    image: np.ndarray                      # RGB uint8 as the gate delivered it (DICOM de-identified)
    clean: np.ndarray                      # after overlay inpainting and banner masking
    pixel_spacing_mm: float | None = None
    mask: np.ndarray | None = None         # bool HxW
    biometry: dict | None = None
    probabilities: np.ndarray | None = None
    probability: float | None = None       # positive class (binary) or predicted class (multi-class)
    cam: np.ndarray | None = None          # float32 HxW in [0, 1]
    overlay: np.ndarray | None = None      # RGB uint8 HxW
    faithfulness: float | None = None
    ood: dict | None = None
    warnings: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"file": self.name, "kind": self.kind, "frame": self.frame,
                "width": int(self.image.shape[1]), "height": int(self.image.shape[0]),
                "pixel_spacing_mm": self.pixel_spacing_mm, "biometry": self.biometry,
                "probability": self.probability,
                "probabilities": None if self.probabilities is None else [float(p) for p in self.probabilities],
                "cam_faithfulness_road": self.faithfulness, "ood": self.ood, "warnings": list(self.warnings)}


@dataclass
class Analysis:
    """One patient's result. ``probability`` is patient level (images and frames aggregated)."""

    task: str | None
    class_names: list
    positive_label: str | None
    threshold: float
    images: list
    probability: float | None = None
    probabilities: dict | None = None
    predicted_class: str | None = None
    decision: str | None = None
    uncertainty: dict | None = None
    rules: dict | None = None
    cam_method: str | None = None
    model: dict | None = None
    segmenter: str | None = None
    aggregation: str = "mean"
    warnings: list = field(default_factory=list)
    timings_ms: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"task": self.task, "model": self.model, "segmenter": self.segmenter,
                "probability": self.probability, "probabilities": self.probabilities,
                "predicted_class": self.predicted_class, "decision": self.decision, "threshold": self.threshold,
                "aggregation": self.aggregation, "uncertainty": self.uncertainty, "rules": self.rules,
                "cam": self.cam_method, "images": [r.to_dict() for r in self.images],
                "warnings": list(self.warnings), "timings_ms": self.timings_ms}


def _as_loaded(item, *, frame_step: int, limits):
    """Paths, bytes, ``(name, bytes)`` pairs, arrays or LoadedImage -> LoadedImage (through the gate)."""
    from core.io import LoadedImage, load_image

    if isinstance(item, LoadedImage):
        return item
    if isinstance(item, np.ndarray):
        from core.explain.overlay import to_rgb_uint8

        return LoadedImage(frames=to_rgb_uint8(item)[None], kind="array", name="array")
    if isinstance(item, tuple) and len(item) == 2:
        name, data = item
        return load_image(data, name=str(name), limits=limits, frame_step=frame_step)
    if isinstance(item, (str, Path, bytes, bytearray)):
        return load_image(item, limits=limits, frame_step=frame_step)
    raise InputError(f"cannot analyze an input of type {type(item).__name__}")


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
    from core.models import load_predictor

    return load_predictor(model)


def _resolve_segmenter(segmenter):
    """None, "levelset", a bundle directory, or a callable ``image -> bool mask``."""
    if segmenter is None or callable(segmenter):
        return segmenter, getattr(segmenter, "__name__", None) if segmenter else None
    from core.segmentation.inference import load_segmenter

    return load_segmenter(str(segmenter)), str(segmenter)


def _aggregate(probs: np.ndarray, how: str) -> np.ndarray:
    if how == "mean":
        return probs.mean(axis=0)
    if how == "max":
        return probs.max(axis=0)
    if how == "majority":
        votes = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1]).astype(float)
        return votes / votes.sum()
    raise InputError(f"unknown aggregation {how!r}; choose one of: {', '.join(AGGREGATIONS)}")


def _tta_views(images: list) -> list:
    """Test-time augmentation views: identity, horizontal flip, and small shifts (no label change)."""
    views = []
    for shift in (0, 4, -4):
        for flip in (False, True):
            batch = [np.roll(im, shift, axis=1) for im in images]
            views.append([im[:, ::-1] for im in batch] if flip else batch)
    return views


def _uncertainty(predictor, images: list, positive: int, how: str) -> dict:
    """Spread of the patient-level probability: ensemble members when there are several, else TTA."""
    members = getattr(predictor.model, "members", None)
    if members is not None and len(members) > 1:
        import torch

        with torch.inference_mode():
            x = predictor.preprocess(images).to(predictor.device)
            member_p = [predictor._class_proba(m(x)).float().cpu().numpy() for m in members]
        values = np.array([_aggregate(p, how)[positive] for p in member_p])
        method = "ensemble"
    else:
        values = np.array([_aggregate(predictor.predict_proba(v), how)[positive] for v in _tta_views(images)])
        method = "tta"
    return {"method": method, "n": int(values.size), "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0,
            "interval": [float(values.min()), float(values.max())]}


def _explain(predictor, images: list, results: list, *, method: str, target: int, alpha: float,
             faithfulness: bool) -> None:
    from core.explain.cam import compute_cams, road_faithfulness
    from core.explain.overlay import overlay_cam, resize_map
    from core.preprocess.roi import paste_map

    x = predictor.preprocess(images).to(predictor.device)
    arch = predictor.meta["architecture"]
    net = predictor.model.members[0] if hasattr(predictor.model, "members") else predictor.model
    cams, targets = compute_cams(net, x, arch=arch, method=method, target_class=target)
    scores = road_faithfulness(net, x, cams, targets, percentiles=(20, 50, 80)) if faithfulness else None
    boxes = predictor.roi_boxes(images) if predictor.roi != "image" else [None] * len(results)
    for i, (res, cam, box) in enumerate(zip(results, cams, boxes)):
        # A model that saw the sac's square explains that square: its map goes back to where the square lies.
        res.cam = resize_map(cam, res.image.shape[:2]) if box is None else paste_map(cam, box, res.image.shape[:2])
        res.overlay = overlay_cam(res.image, res.cam, alpha=alpha)
        res.faithfulness = None if scores is None else float(scores[i])


def analyze(images, clinical: Clinical | dict | None = None, *, model=None, segmenter=None,
            cam: str | None = "gradcam", cam_alpha: float = 0.4, faithfulness: bool = False,
            aggregation: str = "mean", uncertainty: bool = True, frame_step: int = 80, limits=None,
            task: str | None = None, rule_table=None) -> Analysis:
    """Analyze one patient.

    Parameters
    ----------
    images : list of paths, bytes, ``(name, bytes)`` pairs, arrays or ``core.io.LoadedImage``; cine clips
        contribute one result per kept frame (one every ``frame_step``).
    clinical : :class:`Clinical` or a dict with ga_weeks / crl_mm / fhr_bpm (for the CRL/FHR rules).
    model : a classification or multitask bundle directory or a loaded Predictor (None = no classifier).
    segmenter : "levelset", a segmentation bundle directory, a callable, or None. A multitask model also
        gives masks when ``segmenter`` is None.
    cam : a CAM method name (core.explain.cam.CAM_METHODS) or None.
    """
    t0 = time.perf_counter()
    timings = {}
    if aggregation not in AGGREGATIONS:
        raise InputError(f"unknown aggregation {aggregation!r}; choose one of: {', '.join(AGGREGATIONS)}")
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    if not items:
        raise InputError("no images to analyze")
    loaded = [_as_loaded(item, frame_step=frame_step, limits=limits) for item in items]
    from core.preprocess import preprocess

    results = []
    for li in loaded:
        for k, frame in enumerate(li.frames):
            clean = preprocess(frame).image
            results.append(ImageResult(name=li.name, kind=li.kind, frame=k * (frame_step if li.kind == "video" else 1),
                                       image=frame, clean=clean, pixel_spacing_mm=li.pixel_spacing_mm))
    timings["load_preprocess"] = (time.perf_counter() - t0) * 1000

    predictor = _resolve_predictor(model)
    seg_fn, seg_name = _resolve_segmenter(segmenter)
    with _model_lock(predictor if seg_fn is None else None):
        _segment(results, seg_fn, predictor)
    timings["segmentation"] = (time.perf_counter() - t0) * 1000 - sum(timings.values())

    analysis = Analysis(task=task or (predictor.meta.get("task") if predictor else None),
                        class_names=list(predictor.class_names) if predictor else [],
                        positive_label=None, threshold=float(predictor.threshold) if predictor else 0.5,
                        images=results, segmenter=seg_name, aggregation=aggregation,
                        model=_model_info(predictor))
    if predictor is not None and predictor.has_classes:
        with _model_lock(predictor):
            _classify(analysis, predictor, results, cam=cam, cam_alpha=cam_alpha, faithfulness=faithfulness,
                      uncertainty=uncertainty, timings=timings, t0=t0)
    analysis.rules = _rules(clinical, rule_table)
    analysis.warnings = sorted({w for r in results for w in r.warnings})
    timings["total"] = (time.perf_counter() - t0) * 1000
    analysis.timings_ms = {k: round(v, 1) for k, v in timings.items()}
    return analysis


def _model_info(predictor) -> dict | None:
    if predictor is None:
        return None
    meta = predictor.meta
    return {"architecture": meta.get("architecture"), "task": meta.get("task"), "name": meta.get("name"),
            "pretrained": meta.get("pretrained"), "ensemble_members": meta.get("ensemble_members")}


def _segment(results: list, seg_fn, predictor) -> None:
    from core.segmentation.biometry import measure

    if seg_fn is None and not (predictor is not None and predictor.kind == "multitask"):
        return
    if seg_fn is not None:
        masks = [np.asarray(seg_fn(r.clean), dtype=bool) for r in results]
    else:
        masks = predictor.predict([r.image for r in results]).masks
    for r, mask in zip(results, masks):
        r.mask = mask
        r.biometry = measure(mask, spacing_mm=r.pixel_spacing_mm).to_dict()
        if not mask.any():
            r.warnings.append(f"{r.name}: no structure found by the segmentation")


def _classify(analysis: Analysis, predictor, results: list, *, cam, cam_alpha, faithfulness, uncertainty,
              timings: dict, t0: float) -> None:
    images = [r.image for r in results]
    probs = predictor.predict_proba(images)
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
        analysis.uncertainty = _uncertainty(predictor, images, target, analysis.aggregation)
        timings["uncertainty"] = (time.perf_counter() - t0) * 1000 - sum(timings.values())
    if cam:
        analysis.cam_method = cam
        _explain(predictor, images, results, method=cam, target=decided, alpha=cam_alpha, faithfulness=faithfulness)
        timings["explanation"] = (time.perf_counter() - t0) * 1000 - sum(timings.values())
    _flag_out_of_distribution(predictor, results)


def _flag_out_of_distribution(predictor, results: list) -> None:
    from core.ood import ood_scores

    calibration = predictor.meta.get("ood")
    if not calibration:
        return
    for r in results:
        r.ood = ood_scores(predictor, r.image, calibration)
        if r.ood["out_of_distribution"]:
            r.warnings.append(f"{r.name}: this image looks unlike the model's training data "
                              f"(score {r.ood['score']:.1f}, above 1 = unusual); do not trust the prediction")


def _rules(clinical, rule_table) -> dict | None:
    if clinical is None:
        return None
    if isinstance(clinical, dict):
        clinical = Clinical(**{k: clinical.get(k) for k in ("ga_weeks", "crl_mm", "fhr_bpm")})
    if clinical.ga_weeks is None:
        return None
    from core.rules import DEFAULT_RULE_TABLE, apply_rules

    out = apply_rules(clinical.ga_weeks, crl_mm=clinical.crl_mm, fhr_bpm=clinical.fhr_bpm,
                      table=rule_table or DEFAULT_RULE_TABLE)
    return dict(out)
