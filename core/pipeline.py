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

Layout: the result dataclasses live in :mod:`core.analysis_result`, the input gate in
:mod:`core.analysis_inputs`, the classifier steps (probability, uncertainty, Grad-CAM, OOD, faithfulness) in
:mod:`core.analysis_classify`, the instance-segmentation steps (structures, view checklist, OOD) in
:mod:`core.analysis_instances`; this module runs them in order and re-exports the public names. The bundle's
kind decides which steps run: an instance bundle (images or cine) goes through the same call.
"""

from __future__ import annotations

import time

import numpy as np

from core.analysis_classify import (AGGREGATIONS, _classify, _model_lock, _resolve_predictor,  # noqa: F401
                                    add_faithfulness)
from core.analysis_inputs import _load_all, _spacing
from core.analysis_instances import detect_instances, is_instance_predictor
from core.analysis_result import Analysis, Clinical, ImageResult  # noqa: F401  (public here since v1)
from core.errors import InputError

__all__ = ["AGGREGATIONS", "Analysis", "Clinical", "ImageResult", "add_faithfulness", "analyze"]


def analyze(images, clinical: Clinical | dict | None = None, *, model=None, segmenter=None,
            cam: str | None = "gradcam", cam_alpha: float = 0.4, faithfulness: bool = False,
            aggregation: str = "mean", uncertainty: bool = True, frame_step: int = 80, limits=None,
            task: str | None = None, rule_table=None, spacing_mm: float | None = None,
            on_error: str = "raise", frames=None, rules: bool = True, max_frames: int | None = None) -> Analysis:
    """Analyze one patient.

    Parameters
    ----------
    images : list of paths, bytes, ``(name, bytes)`` pairs, arrays or ``core.io.LoadedImage``; cine clips
        contribute one result per kept frame (one every ``frame_step``).
    clinical : :class:`Clinical` or a dict with ga_weeks / crl_mm / fhr_bpm (for the CRL/FHR rules).
    model : a classification, multitask or instance bundle directory or a loaded predictor (None = no
        classifier). An instance bundle gives structures per image (``ImageResult.instances``, ``checklist``,
        ``ms``) instead of probabilities (:mod:`core.analysis_instances`).
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
    max_frames : analyse at most this many kept frames of each input (a page's budget for long clips).
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

    results, gate_warnings = [], []
    for li in loaded:
        kept = li.frames[:max_frames] if max_frames else li.frames
        try:       # a frame the gate let through but preprocessing refuses (e.g. 8x1 pixels) names its file
            cleaned = [preprocess(frame).image for frame in kept]
        except InputError as err:
            message = str(err) if str(err).startswith(f"{li.name}: ") else f"{li.name}: {err}"
            if on_error == "raise" or len(loaded) == 1:
                raise InputError(message) from None
            errors.append({"file": li.name, "error": message})
            continue
        gate_warnings += li.metadata.get("warnings") or []   # e.g. burned-in text the de-identification left
        for k, (frame, clean) in enumerate(zip(kept, cleaned)):
            numbers = li.metadata.get("frame_indices")  # set by core.frames.load_frames (frame selection)
            number = numbers[k] if numbers else k * int(li.metadata.get("frame_step") or frame_step)
            results.append(ImageResult(name=li.name, kind=li.kind, frame=number,
                                       image=frame, clean=clean,
                                       pixel_spacing_mm=li.pixel_spacing_mm or _spacing(spacing_mm)))
    if not results:
        raise InputError("; ".join(e["error"] for e in errors) or "no images to analyze")
    timings["load_preprocess"] = (time.perf_counter() - t0) * 1000

    predictor = model if is_instance_predictor(model) else _resolve_predictor(model)
    if is_instance_predictor(predictor):    # the bundle's kind decides: structures per image, no probability
        analysis = detect_instances(results, predictor, task=task, errors=errors, model=_model_info(predictor))
        timings["detection"] = (time.perf_counter() - t0) * 1000 - sum(timings.values())
        return _finish(analysis, results, clinical, rule_table, rules=rules, gate_warnings=gate_warnings,
                       timings=timings, t0=t0)
    seg_fn, seg_name = _resolve_segmenter(segmenter)
    # Each image is preprocessed once for the network: the tensor serves a multitask model's masks and the
    # probability, uncertainty, Grad-CAM and out-of-distribution steps.
    x = predictor.preprocess([r.image for r in results]).to(predictor.device) \
        if predictor is not None and predictor.has_classes else None
    with _model_lock(predictor if seg_fn is None else None):
        _segment(results, seg_fn, predictor, x)
    timings["segmentation"] = (time.perf_counter() - t0) * 1000 - sum(timings.values())

    analysis = Analysis(task=task or (predictor.meta.task if predictor else None),
                        class_names=list(predictor.class_names) if predictor else [],
                        positive_label=None, threshold=float(predictor.threshold) if predictor else 0.5,
                        images=results, segmenter=seg_name, aggregation=aggregation,
                        model=_model_info(predictor), errors=errors)
    if predictor is not None and predictor.has_classes:
        with _model_lock(predictor):
            _classify(analysis, predictor, results, x=x, cam=cam, cam_alpha=cam_alpha, uncertainty=uncertainty,
                      timings=timings, t0=t0)
    _finish(analysis, results, clinical, rule_table, rules=rules, gate_warnings=gate_warnings, timings=timings,
            t0=t0)
    if faithfulness and analysis.cam_method:
        add_faithfulness(analysis, predictor)
    return analysis


def _finish(analysis: Analysis, results: list, clinical, rule_table, *, rules: bool, gate_warnings: list,
            timings: dict, t0: float) -> Analysis:
    """What every kind of analysis ends with: rules, the clinical values used, warnings, timings."""
    analysis.rules, analysis.clinical = _rules(clinical, rule_table)
    if not rules:
        analysis.rules = None
    spacings = sorted({r.pixel_spacing_mm for r in results if r.pixel_spacing_mm})
    analysis.clinical["pixel_spacing_mm"] = spacings[0] if len(spacings) == 1 else (spacings or None)
    analysis.warnings = sorted({*gate_warnings, *(w for r in results for w in r.warnings)})
    timings["total"] = (time.perf_counter() - t0) * 1000
    analysis.timings_ms = {k: round(v, 1) for k, v in timings.items()}
    return analysis


def _resolve_segmenter(segmenter):
    """None, "levelset", a bundle directory, or a callable ``image -> bool mask``."""
    if segmenter is None or callable(segmenter):
        return segmenter, getattr(segmenter, "__name__", None) if segmenter else None
    from core.segmentation.inference import load_segmenter

    return load_segmenter(str(segmenter)), str(segmenter)


def _model_info(predictor) -> dict | None:
    if predictor is None:
        return None
    meta = predictor.meta
    return {"architecture": meta.architecture, "task": meta.task, "name": meta.name,
            "pretrained": meta.pretrained, "ensemble_members": list(meta.ensemble_members) or None}


def _segment(results: list, seg_fn, predictor, x=None) -> None:
    from core.segmentation.biometry import measure
    from core.segmentation.centerline import centerline_length_mm, centerline_length_px
    from core.segmentation.postprocess import postprocess

    if seg_fn is None and not (predictor is not None and predictor.kind == "multitask"):
        return
    if seg_fn is not None:
        masks = [np.asarray(seg_fn(r.clean), dtype=bool) for r in results]
    else:
        masks = predictor.predict([r.image for r in results] if x is None else x,
                                  sizes=[r.image.shape[:2] for r in results]).masks
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
    mode = predictor.meta.postprocess
    if mode:
        return mode
    from core.tasks import get_task

    try:
        return get_task(str(predictor.meta.task)).protocol.postprocess
    except InputError:
        return "none"


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
