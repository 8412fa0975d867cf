"""Model cards: what a registered model is for, what it learnt from, how well it did on held-out patients, and
what it cannot be trusted with -- as plain data a page (or a script) renders.

Why in core: the card is built from the bundle's model.json and the store, and must read the same on the
Models page, in an export or from a script. Everything is derived from recorded facts (the recipe, the data
summary written at training time, the held-out metrics); a fact that was not recorded is shown as "not
recorded", never guessed. Limitations follow from those facts (scratch weights, synthetic data, few patients,
image-level labels, the chance-level flag, CPU-reduced recipe).
"""

from __future__ import annotations

import math
from pathlib import Path

from core.errors import InputError
from core.models.meta import BundleMeta
from core.paths import SAMPLE_DATA
from core.store import bundle_evaluations
from core.tasks import get_task

DISCLAIMER = ("Research use only. Not a medical device: not for diagnosis, treatment or any clinical decision. "
              "Its outputs must be reviewed by a qualified clinician.")
SMALL_DATA_PATIENTS = 100          # below this, held-out estimates are too wide to rely on


def _read_meta(folder: Path) -> BundleMeta | None:
    """The bundle's meta, or None when its model.json is gone or unusable (the card then says what the store
    recorded and "not recorded" for the rest)."""
    try:
        return BundleMeta.from_json((folder / "model.json").read_text(encoding="utf-8"), where=str(folder))
    except (OSError, UnicodeDecodeError, InputError):
        return None


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _recipe(meta: BundleMeta | None) -> dict:
    recipe = meta.recipe if meta is not None else None
    if isinstance(recipe, str):           # older bundles stored the recipe's repr
        return {"recipe": recipe}
    return dict(recipe or {})


def held_out_metrics(metrics: dict) -> list[dict]:
    """Rows (metric, value, CI low, CI high, level) of the held-out numbers a run recorded."""
    rows = []
    ci = list(metrics.get("auc_ci") or [None, None])
    level = metrics.get("level") or ("patient" if "auc" in metrics else None)
    labels = {"auc": "AUC", "auc_image": "AUC (image level)", "auc_patient": "AUC (patient level, agreeing labels)",
              "accuracy": "accuracy", "sensitivity": "sensitivity", "specificity": "specificity",
              "dice": "Dice (mean)", "iou": "IoU (mean)", "mask_map50": "mask mAP@0.5", "box_map50": "box mAP@0.5"}
    for key, title in labels.items():
        value = _num(metrics.get(key))
        if key not in metrics:
            continue
        row = {"metric": title, "value": value, "ci_low": None, "ci_high": None,
               "level": level if key in ("auc", "accuracy", "sensitivity", "specificity") else
               ("image" if key == "auc_image" else "patient" if key == "auc_patient" else "case")}
        if key == "auc":
            row["ci_low"], row["ci_high"] = _num(ci[0]), _num(ci[1] if len(ci) > 1 else None)
        rows.append(row)
    return rows


def limitations(meta: BundleMeta | None, entry: dict) -> list[str]:
    """Known limitations, each from a recorded fact."""
    out = []
    data = dict(meta.training_data) if meta is not None else {}
    metrics = (meta.metrics if meta is not None else None) or entry.get("metrics") or {}
    scratch = meta is None or (not meta.pretrained and meta.weights != "imagenet")
    synthetic = data.get("synthetic")
    if synthetic is None:
        synthetic = Path(entry.get("path") or "").resolve().is_relative_to(SAMPLE_DATA.resolve())
    if synthetic:
        out.append(("Trained from scratch" if scratch else "Fine-tuned") + " on synthetic phantoms: it has never "
                   "seen a real ultrasound image, and its numbers say nothing about real scans.")
    elif scratch:
        out.append("Trained from scratch (no ImageNet weights were available); the papers fine-tune pretrained "
                   "networks.")
    n = data.get("n_patients") or metrics.get("n_patients")
    if n and int(n) < SMALL_DATA_PATIENTS:
        out.append(f"Trained and evaluated on {int(n)} patients: held-out estimates have wide confidence "
                   f"intervals.")
    if entry.get("flag") or metrics.get("flag"):
        out.append(f"Flagged {entry.get('flag') or metrics.get('flag')!r}: "
                   f"{entry.get('flag_reason') or metrics.get('flag_reason')}.")
    if data.get("mixed_label_patients"):
        out.append(f"Image-level labels: {data['mixed_label_patients']} patients have images with different "
                   f"labels; patient-level results cover only the patients whose labels agree.")
    recipe = _recipe(meta)
    if recipe.get("input_size") and meta is not None and min(meta.input_hw) < 224:
        out.append(f"Input {meta.input_size} px, below the papers' 224-256 px (a CPU-sized run): fine detail "
                   f"is lost.")
    out.append("Not validated prospectively, on other machines, sites or populations.")
    return out


def _model_facts(meta: BundleMeta | None, entry: dict) -> dict:
    """What the network is and how it decides; None where the model.json is unusable."""
    if meta is None:
        return {"architecture": entry.get("arch"), "input_size": None, "in_channels": None, "ensemble_size": None,
                "pretrained": None, "threshold": None, "cv": None, "seed": None}
    size = meta.input_size if isinstance(meta.input_size, int) else list(meta.input_size)
    return {"architecture": meta.architecture, "input_size": size, "in_channels": meta.in_channels,
            "ensemble_size": meta.ensemble_size, "pretrained": meta.pretrained, "threshold": meta.threshold,
            "cv": meta.cv, "seed": meta.seed}


def model_card(entry: dict) -> dict:
    """The card of a registered bundle (``entry``: a row of :func:`core.store.list_bundles` as a dict).

    Keys: ``title``, ``disclaimer``, ``intended_use``, ``task`` (name, title, kind, labels, positive label),
    ``training_data``, ``recipe``, ``metrics`` (rows), ``calibration``, ``evaluations`` (stored evaluation
    names), ``limitations``, ``versions``, ``flag``, ``deleted``.
    """
    folder = Path(entry["path"])
    meta = _read_meta(folder)
    metrics = dict((meta.metrics if meta is not None else None) or entry.get("metrics") or {})
    try:
        task = get_task(str(entry["task"]))
        task_title, kind = task.title, task.kind
    except Exception:  # noqa: BLE001 - a bundle of a task this version does not know still gets a card
        task_title, kind = str(entry["task"]), meta.kind if meta is not None else None
    labels = list((meta.class_names if meta is not None else None) or entry.get("class_names") or [])
    data = dict(meta.training_data) if meta is not None else {}
    data.setdefault("fingerprint", meta.data_fingerprint if meta is not None else None)
    data.setdefault("n_patients", metrics.get("n_patients"))
    data.setdefault("n_images", metrics.get("n_images"))
    data.setdefault("date", meta.created if meta is not None else None)
    what = {"classification": "classify", "multitask": "segment and classify", "segmentation": "segment",
            "instance": "find and outline the structures of"}.get(kind or "", "analyse")
    intended = (f"Research on {task_title.lower()}: to {what} ultrasound images "
                f"{'into ' + ', '.join(labels) if labels and kind != 'instance' else ''} for method development, "
                f"reader studies and teaching, on data like its training data.").replace("  ", " ")
    calibration = {k: _num(metrics.get(k)) for k in ("brier", "ece") if k in metrics}
    return {
        "title": str(entry.get("name") or folder.name), "disclaimer": DISCLAIMER, "intended_use": intended,
        "task": {"name": entry["task"], "title": task_title, "kind": kind, "labels": labels,
                 "positive_label": meta.positive_label if meta is not None else None},
        "model": _model_facts(meta, entry),
        "training_data": data, "recipe": _recipe(meta), "metrics": held_out_metrics(metrics),
        "calibration": calibration, "evaluations": bundle_evaluations(int(entry["id"])) if "id" in entry else [],
        "limitations": limitations(meta, entry), "versions": dict(meta.versions) if meta is not None else {},
        "flag": entry.get("flag") or metrics.get("flag"),
        "flag_reason": entry.get("flag_reason") or metrics.get("flag_reason"),
        "deleted": entry.get("deleted"),
    }
