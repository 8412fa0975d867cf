"""The result of :func:`core.pipeline.analyze`: plain dataclasses the dashboard, the reports and the command
line read (``to_dict()`` is the JSON ``python -m core predict`` prints).

Why separate from the pipeline: pages, reports and the case store read results without importing the
analysis machinery (torch, OpenCV) behind :func:`core.pipeline.analyze`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
    instances: object = None               # instance bundles: core.models.instance.Instances (original size)
    checklist: dict | None = None          # ... the view and its expected structures (models.instance.completeness)
    ms: float | None = None                # ... model time of this image in ms

    def to_dict(self) -> dict:
        return {"file": self.name, "kind": self.kind, "frame": self.frame,
                "width": int(self.image.shape[1]), "height": int(self.image.shape[0]),
                "pixel_spacing_mm": self.pixel_spacing_mm, "biometry": self.biometry,
                "probability": self.probability,
                "probabilities": None if self.probabilities is None else [float(p) for p in self.probabilities],
                "cam_faithfulness_road": self.faithfulness, "ood": self.ood, "warnings": list(self.warnings),
                **(self._instances_dict() if self.instances is not None else {})}

    def _instances_dict(self) -> dict:
        """Instance bundles: each detection (structure, score, box x0 y0 x1 y1 in pixels, mask area) and the
        view checklist; masks themselves stay out of the JSON (``--out`` would write pictures)."""
        inst = self.instances
        return {"detections": [{"structure": inst.names[i], "score": float(inst.scores[i]),
                                "box": [round(float(v), 1) for v in inst.boxes[i]],
                                "area_px": int(inst.masks[i].sum())} for i in range(len(inst))],
                "view": (self.checklist or {}).get("view"), "checklist": self.checklist, "model_ms": self.ms}


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
