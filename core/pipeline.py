"""``analyze()``: one patient's images and measurements -> one :class:`Analysis` (DESIGN.md section 3).

Why one call: the dashboard, ``python -m core predict`` and scripts must give the same answer for the same
patient. The steps: input gate -> preprocessing (calipers inpainted, banner masked, fan found) ->
segmentation (network bundle or level set) -> classification per image -> patient-level probability ->
Grad-CAM per image -> rules from clinical values -> uncertainty (ensemble spread, or test-time augmentation
for a single model) -> out-of-distribution check. :class:`Analysis` is a plain dataclass; ``to_dict()``
gives the JSON the command line prints.

What a clinician must be able to trust, and where it is decided here rather than on a page:
- every image is preprocessed once for the network (one tensor serves probability, uncertainty, Grad-CAM and
  the out-of-distribution embedding);
- an image unlike the training data withholds the decision (``decision`` None, ``decision_withheld`` True,
  ``ood`` says why), the probability is still reported so the reader sees what was withheld;
- with ``on_error="skip"`` one unreadable file among good ones does not lose the others: it is listed in
  ``errors`` with its one-line message (the command line keeps ``"raise"``: exit code 2 on any bad file);
- files are named by their file name, never by a server path;
- the ROAD faithfulness score (slow: many forward passes) can be computed after the first result is shown,
  with :func:`add_faithfulness`.
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
    net_cam: np.ndarray | None = None      # the map at the network's input (for the ROAD score)

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
    clinical: dict = field(default_factory=dict)   # the values the rules and the report actually used
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
    ood: dict | None = None                # {"out_of_distribution", "score", "files", "reason"} over the images
    decision_withheld: bool = False        # out of distribution: no decision (the probability stays visible)
    errors: list = field(default_factory=list)     # [{"file", "error"}] of files that could not be read
    warnings: list = field(default_factory=list)
    timings_ms: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"task": self.task, "model": self.model, "segmenter": self.segmenter,
                "probability": self.probability, "probabilities": self.probabilities,
                "predicted_class": self.predicted_class, "decision": self.decision, "threshold": self.threshold,
                "decision_withheld": self.decision_withheld, "ood": self.ood,
                "aggregation": self.aggregation, "uncertainty": self.uncertainty, "rules": self.rules,
                "clinical": dict(self.clinical), "cam": self.cam_method,
                "images": [r.to_dict() for r in self.images], "errors": list(self.errors),
                "warnings": list(self.warnings), "timings_ms": self.timings_ms}


def _as_loaded(item, *, frame_step: int, limits, frames=None):
    """Paths, bytes, ``(name, bytes)`` pairs, arrays or LoadedImage -> LoadedImage (through the gate)."""
    from core.io import LoadedImage, load_image

    if isinstance(item, LoadedImage):
        return item
    if isinstance(item, np.ndarray):
        from core.explain.overlay import to_rgb_uint8

        return LoadedImage(frames=to_rgb_uint8(item)[None], kind="array", name="array")
    if frames is not None and isinstance(item, (tuple, str, Path, bytes, bytearray)):  # viewer's frame choice
        from core.frames import load_frames

        name, data = item if isinstance(item, tuple) else (None, item)
        name = Path(str(name if name is not None else item if isinstance(item, (str, Path)) else "upload")).name
        chosen = frames.get(name) if isinstance(frames, dict) else frames
        if chosen is not None:
            return load_frames(data, chosen, name=name, limits=limits)
    if isinstance(item, tuple) and len(item) == 2:
        name, data = item
        return load_image(data, name=Path(str(name)).name, limits=limits, frame_step=frame_step)
    if isinstance(item, (str, Path)):     # named by its file name: a server path never reaches a page or report
        return load_image(item, name=Path(item).name, limits=limits, frame_step=frame_step)
    if isinstance(item, (bytes, bytearray)):
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


def _tta_views(x):
    """Test-time augmentation views of the network input: identity, horizontal flip, and shifts of 2 % of the
    width (no label change). Made on the preprocessed tensor, so a sac-ROI bundle does not re-run the level
    set on every shifted picture."""
    import torch

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
        import torch

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
    from core.explain.cam import compute_cams
    from core.explain.overlay import overlay_cam, resize_map
    from core.segmentation.roi import paste_map

    cams, _ = compute_cams(_net(predictor), x, arch=predictor.meta["architecture"], method=method,
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
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from core.explain.cam import road_faithfulness

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


def analyze(images, clinical: Clinical | dict | None = None, *, model=None, segmenter=None,
            cam: str | None = "gradcam", cam_alpha: float = 0.4, faithfulness: bool = False,
            aggregation: str = "mean", uncertainty: bool = True, frame_step: int = 80, limits=None,
            task: str | None = None, rule_table=None, spacing_mm: float | None = None,
            on_error: str = "raise", frames=None, rules: bool = True) -> Analysis:
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
    faithfulness : also compute the ROAD score of each heat map (slow; or later with :func:`add_faithfulness`).
    spacing_mm : mm per pixel for images that carry none themselves (a DICOM's own calibration wins), e.g.
        the ``pixel_spacing_mm`` of a manifest row.
    on_error : "raise" (any unreadable file raises its InputError) or "skip" (it is listed in
        ``Analysis.errors`` and the others are analysed; an InputError only when no file is readable).
    rules : apply the CRL/FHR rules (a page passes its task's ``uses_rules``); the clinical values used are
        recorded either way.
    frames : source frame numbers to analyse instead of one every ``frame_step`` (the viewer's "this frame"):
        a list for every multi-frame input, or ``{file name: [frame, ...]}`` per file (files not named keep
        ``frame_step``); each result's ``frame`` is then its source frame number.
    """
    t0 = time.perf_counter()
    timings = {}
    if aggregation not in AGGREGATIONS:
        raise InputError(f"unknown aggregation {aggregation!r}; choose one of: {', '.join(AGGREGATIONS)}")
    if on_error not in ("raise", "skip"):
        raise InputError(f"unknown on_error {on_error!r}; choose raise or skip")
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    if not items:
        raise InputError("no images to analyze")
    loaded, errors = _load_all(items, frame_step=frame_step, limits=limits, on_error=on_error, frames=frames)
    from core.preprocess import preprocess

    results = []
    for li in loaded:
        try:       # a frame the gate let through but preprocessing refuses (e.g. 8x1 pixels) names its file
            cleaned = [preprocess(frame).image for frame in li.frames]
        except InputError as err:
            message = str(err) if str(err).startswith(f"{li.name}: ") else f"{li.name}: {err}"
            if on_error == "raise" or len(loaded) == 1:
                raise InputError(message) from None
            errors.append({"file": li.name, "error": message})
            continue
        for k, (frame, clean) in enumerate(zip(li.frames, cleaned)):
            numbers = li.metadata.get("frame_indices")  # set by core.frames.load_frames (frame selection)
            number = numbers[k] if numbers else k * int(li.metadata.get("frame_step") or frame_step)
            results.append(ImageResult(name=li.name, kind=li.kind, frame=number,
                                       image=frame, clean=clean,
                                       pixel_spacing_mm=li.pixel_spacing_mm or _spacing(spacing_mm)))
    if not results:
        raise InputError("; ".join(e["error"] for e in errors) or "no images to analyze")
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
                        model=_model_info(predictor), errors=errors)
    if predictor is not None and predictor.has_classes:
        with _model_lock(predictor):
            _classify(analysis, predictor, results, cam=cam, cam_alpha=cam_alpha, uncertainty=uncertainty,
                      timings=timings, t0=t0)
    analysis.rules, analysis.clinical = _rules(clinical, rule_table)
    if not rules:
        analysis.rules = None
    spacings = sorted({r.pixel_spacing_mm for r in results if r.pixel_spacing_mm})
    analysis.clinical["pixel_spacing_mm"] = spacings[0] if len(spacings) == 1 else (spacings or None)
    analysis.warnings = sorted({w for r in results for w in r.warnings})
    timings["total"] = (time.perf_counter() - t0) * 1000
    analysis.timings_ms = {k: round(v, 1) for k, v in timings.items()}
    if faithfulness and analysis.cam_method:
        add_faithfulness(analysis, predictor)
    return analysis


def _spacing(value) -> float | None:
    if value is None:
        return None
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise InputError(f"pixel spacing must be a number of mm per pixel, got {value!r}") from None
    if not np.isfinite(s) or s <= 0:
        raise InputError(f"pixel spacing must be a positive number of mm per pixel, got {value!r}")
    return s


def _load_all(items: list, *, frame_step: int, limits, on_error: str, frames=None) -> tuple[list, list]:
    """Every readable input through the gate; the unreadable ones as ``{"file", "error"}`` (on_error="skip")."""
    loaded, errors = [], []
    for i, item in enumerate(items):
        try:
            loaded.append(_as_loaded(item, frame_step=frame_step, limits=limits, frames=frames))
        except InputError as err:
            if on_error == "raise":
                raise
            name = item[0] if isinstance(item, tuple) else item if isinstance(item, (str, Path)) else f"input {i + 1}"
            errors.append({"file": Path(str(name)).name, "error": str(err)})
    if not loaded:
        raise InputError(errors[0]["error"] if len(errors) == 1 else
                         f"none of the {len(errors)} files could be read: " + "; ".join(e["error"] for e in errors))
    return loaded, errors


def _model_info(predictor) -> dict | None:
    if predictor is None:
        return None
    meta = predictor.meta
    return {"architecture": meta.get("architecture"), "task": meta.get("task"), "name": meta.get("name"),
            "pretrained": meta.get("pretrained"), "ensemble_members": meta.get("ensemble_members")}


def _segment(results: list, seg_fn, predictor) -> None:
    from core.segmentation.biometry import measure
    from core.segmentation.centerline import centerline_length_mm, centerline_length_px
    from core.segmentation.postprocess import postprocess

    if seg_fn is None and not (predictor is not None and predictor.kind == "multitask"):
        return
    if seg_fn is not None:
        masks = [np.asarray(seg_fn(r.clean), dtype=bool) for r in results]
    else:
        masks = predictor.predict([r.image for r in results]).masks
        masks = [postprocess(m, _postprocess_mode(predictor)) for m in masks]
    for r, mask in zip(results, masks):
        r.mask = mask
        r.biometry = measure(mask, spacing_mm=r.pixel_spacing_mm).to_dict()
        # The centre line's length (the cervical length of a cervix mask); the page shows it where the task
        # names a length measure.
        r.biometry["length_px"] = centerline_length_px(mask) if mask.any() else None
        r.biometry["length_mm"] = centerline_length_mm(mask, r.pixel_spacing_mm) if mask.any() else None
        if not mask.any():
            r.warnings.append(f"{r.name}: no structure found by the segmentation")


def _postprocess_mode(predictor) -> str:
    """The bundle's recorded mask post-processing, else its task's (core.tasks Protocol.postprocess), as
    ``python -m core segment`` applies it: the page and the command line draw the same mask."""
    mode = predictor.meta.get("postprocess")
    if mode:
        return mode
    from core.tasks import get_task

    try:
        return get_task(str(predictor.meta.get("task"))).protocol.postprocess
    except InputError:
        return "none"


def _classify(analysis: Analysis, predictor, results: list, *, cam, cam_alpha, uncertainty,
              timings: dict, t0: float) -> None:
    images = [r.image for r in results]
    x = predictor.preprocess(images).to(predictor.device)      # once: probability, uncertainty, CAM, OOD
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
    from core.ood import ood_scores

    calibration = predictor.meta.get("ood")
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


def _rules(clinical, rule_table) -> tuple[dict | None, dict]:
    """(rule flags or None, the clinical values used)."""
    if clinical is None:
        return None, {}
    if isinstance(clinical, dict):
        clinical = Clinical(**{k: clinical.get(k) for k in ("ga_weeks", "crl_mm", "fhr_bpm")})
    used = {"ga_weeks": clinical.ga_weeks, "crl_mm": clinical.crl_mm, "fhr_bpm": clinical.fhr_bpm}
    if clinical.ga_weeks is None:
        return None, used
    from core.rules import DEFAULT_RULE_TABLE, apply_rules

    out = apply_rules(clinical.ga_weeks, crl_mm=clinical.crl_mm, fhr_bpm=clinical.fhr_bpm,
                      table=rule_table or DEFAULT_RULE_TABLE)
    return dict(out), used
