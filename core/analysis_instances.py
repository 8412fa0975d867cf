"""The instance-segmentation steps of :func:`core.pipeline.analyze`: structures per image (and per kept cine
frame), the view category with its completeness checklist, and the out-of-distribution check.

Why inside ``analyze`` and not in the dashboard: an instance bundle (Mask R-CNN, the first-trimester study) is
analysed by the same entry as every other bundle, so the Analyze page, ``python -m core predict`` and scripts
get the same detections, the same frames of a clip and the same out-of-distribution verdict from one call.
What differs from a classifier: no patient-level probability; each image gets :class:`core.models.instance.
Instances` (at the image's original size), a checklist (:func:`core.models.instance.completeness`) and the
model time in ms. An image unlike the training data (the bundle's backbone-feature calibration,
:func:`core.ood.check_image`) withholds the view decision: ``decision_withheld`` and ``ood`` say why, the
detections stay visible so the reader sees what was withheld.
"""

from __future__ import annotations

import time

from core.analysis_result import Analysis
from core.models.instance import completeness
from core.ood import check_image


def is_instance_predictor(predictor) -> bool:
    return hasattr(predictor, "predict_instances")


def detect_instances(results: list, predictor, *, task: str | None, errors: list, model: dict | None) -> Analysis:
    """Run the detector on every :class:`core.analysis_result.ImageResult` (one image at a time, as frames
    arrive from a scanner) and return the patient's :class:`Analysis`."""
    for r in results:
        start = time.perf_counter()
        found = predictor.predict_instances([r.image])[0]
        r.ms = (time.perf_counter() - start) * 1000.0
        r.instances = found
        r.checklist = completeness(found, predictor.views)
        r.ood = check_image(predictor, r.image)
        if r.ood and r.ood["out_of_distribution"]:
            r.warnings.append(f"{r.name}: this image looks unlike the model's training data "
                              f"(score {r.ood['score']:.1f}, above 1 = unusual); do not trust the detections")
    analysis = Analysis(task=task or (model or {}).get("task"), class_names=list(predictor.structures),
                        positive_label=None, threshold=float(predictor.score_threshold), images=results,
                        model=model, errors=errors)
    scored = [r for r in results if r.ood]
    if scored:
        unusual = sorted({r.name for r in scored if r.ood["out_of_distribution"]})
        score = max(r.ood["score"] for r in scored)
        analysis.ood = {"out_of_distribution": bool(unusual), "score": float(score), "files": unusual,
                        "reason": (f"{', '.join(unusual)} unlike the model's training data (out-of-distribution "
                                   f"score {score:.1f}; above 1 = unusual)") if unusual else None}
        analysis.decision_withheld = bool(unusual)
    return analysis
