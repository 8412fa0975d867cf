"""The part of a trained bundle's ``model.json`` that the task and the run decide: :func:`training_meta`.

Why apart from :mod:`core.models.meta`: meta.py is the validated value every reader loads; this builder is the
trainer's, the one place that turns a task and a run's recipe into bundle fields for every kind.
"""

from __future__ import annotations

from dataclasses import asdict


def training_meta(task, *, kind: str, recipe, class_names=(), cv: str | None = None, seed: int | None = None,
                  data_fingerprint: str | None = None, training_data: dict | None = None,
                  monitor: str | None = None, metrics: dict | None = None, score_threshold: float | None = None,
                  arch_kwargs: dict | None = None) -> dict:
    """The part of a trained bundle's ``model.json`` that the task and the run decide, for every kind.

    The trainer hands it to :func:`core.models.save_bundle`, which adds what the network itself knows
    (architecture, num_classes, in_channels, arch_kwargs, ImageNet weights) and validates the whole as a
    :class:`BundleMeta`. ``recipe`` is the run's :class:`core.tasks.Recipe` (input size, epochs and batch size
    as actually used); ``monitor`` the validation metric that chose the kept epoch; for instance tasks
    ``score_threshold`` and the detector's ``arch_kwargs`` (its working size, min_size / max_size).
    """
    out = {"task": task.name, "kind": kind, "input_size": recipe.input_size, "threshold": 0.5,
           "recipe": {**asdict(recipe), **({"monitor": monitor} if monitor else {})},
           "positive_label": task.positive_label, "normalization": recipe.normalization, "roi": recipe.roi,
           "resize_mode": "center_crop" if recipe.crop_ratio > 1 else recipe.resize,
           "postprocess": task.protocol.postprocess}
    if kind == "instance":
        names = list(class_names or task.structures)
        out.update(structures=names, class_names=names, num_classes=len(names),
                   views={k: list(v) for k, v in (task.views or {}).items()},
                   normalization="imagenet")               # what Mask R-CNN's own transform applies
        size = dict(arch_kwargs or {})
        out.update({k: int(size[k]) for k in ("min_size", "max_size") if k in size})
        if score_threshold is not None:
            out["score_threshold"] = float(score_threshold)
    elif kind != "segmentation":
        out["class_names"] = list(class_names) or None
    optional = {"cv": cv, "seed": seed, "data_fingerprint": data_fingerprint, "training_data": training_data,
                "metrics": metrics}
    out.update({k: v for k, v in optional.items() if v is not None})
    return out
