"""``train()``: a whole run — manifest → patient-level splits → one model per fold → ensemble bundle + metrics.

Why this layout of the run folder (RUN_DIR)::

    run.json               the settings (task, arch, cv, epochs, input size, seed, data fingerprint)
    splits.json            the fold assignment, written before any training and reused by --resume
    folds/K/checkpoint.pt  last finished epoch of an unfinished fold (deleted when the fold ends)
    folds/K/bundle/        the fold's kept model (best-on-validation, or the final weights: recipe ``keep``)
    folds/K/result.json    written last: the fold is finished and is never redone
    oof_predictions.csv    every held-out case: case, patient_id, truth, score, fold, + manifest metadata
    per_case.csv           segmentation: Dice / IoU of every held-out case
    bundle/                the final model: the averaging ensemble of the fold models (up to
                           MAX_ENSEMBLE members; more folds, e.g. leave-one-patient-out on many patients,
                           keep the best fold's model), meta "ensemble_members" lists every fold bundle
    metrics.json           the run's metrics (also returned)

``--resume`` re-reads run.json and splits.json, skips folds with a result.json and restarts an unfinished
fold from its epoch checkpoint, so a killed run ends with exactly the folds and assignment it started with.

Every task kind runs through this: the kind only chooses how a fold is trained and scored
(:func:`core.training.folds.run_fold` for classification / segmentation / multitask networks,
:func:`core.training.instance.run_fold` for instance segmentation, which adds ``folds/K/per_structure.csv``
and RUN_DIR/per_structure.csv, the paper's table) and whether the final bundle averages the fold models
(dense networks) or keeps the best run on validation (detectors).
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from core.data.augment import base_size
from core.data.datasets import load_pictures
from core.data.splits import Split, check_cv_feasible, fixed_split, make_splits, parse_cv
from core.errors import InputError
from core.models.meta_builder import training_meta
from core.models.transforms import as_hw
from core.training import distributed as dist_util
from core.training import instance as instance_kind
from core.training.callbacks import fan_out
from core.training.checkpoint import read_json, write_json
from core.training.folds import FoldPlan, run_fold
from core.training.metrics import flag_metrics, run_metrics
from core.training.preflight import ARCH_ALIASES  # noqa: F401 - re-exported (callers import it from here)
from core.training.preflight import (class_patients, fingerprint, fixed_split_given, preflight, resolve,
                                     stratification_labels, training_data)
from core.training.trainer import FitConfig

MAX_ENSEMBLE = 10
# Defaults on a CPU-only machine, where the papers' 224–256 px and hundreds of epochs take days.
CPU_INPUT_SIZE = 128
CPU_MAX_EPOCHS = 12
CPU_UNET_WIDTH = 16


class RunError(InputError):
    """A run folder that cannot be used as asked (exists without --resume, resume of another run)."""


def _recipe_for_weights(task, arch):
    """(task, pretrained): ImageNet weights when cached, else the recipe's from-scratch variant."""
    from core.models.registry import imagenet_available

    if imagenet_available(arch):
        return task, True
    if task.recipe.scratch:
        task = replace(task, recipe=replace(task.recipe, **task.recipe.scratch))
    return task, False


def _input_size(value):
    """One side (a square input) or ``(height, width)``: what ``--input-size`` gives, a form, or run.json."""
    h, w = as_hw(value)
    return h if h == w else (h, w)


def _settings(task, arch, kind, cv, epochs, input_size, batch_size, seed, device) -> dict:
    r = task.recipe
    # The CPU caps are for the papers' dense recipes; the instance recipe is already CPU-sized (a 256 px
    # MobileNet Mask R-CNN, 20 epochs), and below ~256 px its small structures vanish.
    cpu = device.type == "cpu" and kind != "instance"
    size = _input_size(input_size) if input_size else (min(r.input_size, CPU_INPUT_SIZE) if cpu else r.input_size)
    n_epochs = int(epochs or (min(r.epochs, CPU_MAX_EPOCHS) if cpu else r.epochs))
    arch_kwargs = {"width": CPU_UNET_WIDTH} if cpu and arch in ("unet", "unet_cls") else {}
    if kind == "multitask" and r.cls_encoder_grad != 1.0:
        arch_kwargs["cls_encoder_grad"] = float(r.cls_encoder_grad)
    monitor = r.early_stopping_metric
    if kind == "segmentation" and monitor in ("val_auc", "val_accuracy"):
        monitor = "val_dice"
    if kind == "classification" and monitor == "val_dice":
        monitor = "val_auc"
    if min(as_hw(size)) < 8 or n_epochs < 1:
        raise InputError("--input-size must be >= 8 and --epochs >= 1")
    out = {"task": task.name, "arch": arch, "kind": kind, "cv": cv or task.protocol.cv, "epochs": n_epochs,
           "input_size": size, "batch_size": int(batch_size or r.batch_size), "seed": int(seed),
           "monitor": monitor, "arch_kwargs": arch_kwargs, "in_channels": r.in_channels}
    if kind == "instance":
        out.update(instance_kind.run_settings(r, size))
    return out


def _splits(man, task, kind, settings) -> list[Split]:
    df = man.df
    patients = sorted(df["patient_id"].astype(str).unique())
    scheme, _ = parse_cv(settings["cv"])
    if fixed_split_given(df, scheme):
        return [fixed_split(df["patient_id"].astype(str), df["split"])]
    check_cv_feasible(class_patients(man, kind), len(patients), settings["cv"])
    lab = stratification_labels(man, task, kind)
    labels = None if lab is None else [lab[p] for p in patients]
    return make_splits(patients, labels=labels, cv=settings["cv"], seed=settings["seed"],
                       fractions=task.protocol.split_fractions)


def _prepare_run_dir(out, settings, fingerprint, resume) -> tuple[Path, dict | None]:
    from core.paths import sonodash_home

    if out is None:
        if resume:
            raise RunError("--resume needs --out RUN_DIR (the folder of the run to continue)")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = sonodash_home() / "runs" / f"{settings['task']}-{settings['arch']}-{stamp}"
    run_dir = Path(out)
    saved = run_dir / "run.json"
    if saved.exists():
        if not resume:
            raise RunError(f"{run_dir}: already holds a run; pass --resume to continue it or choose another --out")
        old = read_json(saved)
        if old.get("fingerprint") != fingerprint:
            raise RunError(f"{run_dir}: was trained on a different manifest; --resume needs the same data")
        for debris in [*run_dir.rglob(".*.tmp-*"), *run_dir.rglob(".*.old-*")]:  # bundle writes cut by a kill
            if debris.is_dir():
                shutil.rmtree(debris, ignore_errors=True)
        return run_dir, old
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        raise RunError(f"{run_dir}: exists and is not empty; choose another --out")
    return run_dir, None


def train(task, manifest, arch=None, cv=None, epochs=None, out=None, resume=False, progress: Callable | None = None,
          *, seed: int = 0, input_size: int | tuple[int, int] | None = None, batch_size: int | None = None,
          device: str | None = None, deadline: float | None = None, arch_kwargs: dict | None = None) -> dict:
    """Train ``arch`` on ``manifest`` for ``task`` with the protocol ``cv``; returns run_dir, bundle, metrics.

    ``progress(event: dict)`` receives the events of :mod:`core.training.callbacks`. ``None`` values take the
    task recipe's defaults (on a CPU-only machine at most CPU_INPUT_SIZE px and CPU_MAX_EPOCHS epochs).
    ``deadline`` (time.time() seconds): no epoch starts that would end after it (bench-real's budget).
    ``arch_kwargs`` (e.g. ``{"width": 8}``) size the network beyond the CPU defaults (the demo's small U-Net).
    """
    from core.tasks import get_task

    base = get_task(task) if isinstance(task, str) else task
    dist_util.init_from_env()
    dev = torch.device(device) if device else dist_util.device_for_rank()
    _deterministic(dev)
    task, man, arch, kind = resolve(base, manifest, arch)
    task, pretrained = _recipe_for_weights(task, arch)
    data_hash = fingerprint(man.df)
    settings = _settings(task, arch, kind, cv, epochs, input_size, batch_size, seed, dev)
    settings["weights"] = "imagenet" if pretrained else None
    settings["deadline"] = deadline
    if arch_kwargs:
        settings["arch_kwargs"] = {**settings["arch_kwargs"], **arch_kwargs}
    run_dir, old = _prepare_run_dir(out, settings, data_hash, resume)
    if old is not None:
        settings = {**old["settings"], "deadline": deadline}
        settings["input_size"] = _input_size(settings["input_size"])        # JSON gives [h, w] back as a list
    if (run_dir / "splits.json").exists():
        splits = [Split.from_dict(d) for d in read_json(run_dir / "splits.json")["splits"]]
    else:
        splits = _splits(man, task, kind, settings)
    if dist_util.is_main():
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "splits.json", {"cv": settings["cv"], "seed": settings["seed"],
                                             "splits": [s.to_dict() for s in splits]})
        if old is None:
            write_json(run_dir / "run.json", {"settings": settings, "fingerprint": data_hash,
                                              "manifest": str(getattr(man, "path", man.root)),
                                              "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
    dist_util.barrier()
    return _run_folds(task, man, settings, splits, run_dir, dev, progress)


def _deterministic(dev) -> None:
    """Ask torch for reproducible kernels (DESIGN: same data, arguments and seed give the same predictions).

    On the CPU every op the trainer uses is deterministic for a fixed thread count; the random draws (split,
    initialisation, sampler, augmentation, dropout) are all seeded. On CUDA cuDNN autotuning is switched off
    and deterministic cuDNN kernels chosen; ops without a deterministic CUDA kernel (e.g. the backward of
    adaptive average pooling and of bilinear upsampling) only warn, so GPU runs may still differ in the last
    bits, and automatic mixed precision adds rounding that depends on the kernel chosen (README: Training).
    """
    if dev.type == "cuda":
        import os

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)


def _class_names(task, man, kind) -> tuple:
    if kind == "instance":
        return tuple(task.structures)
    if task.labels:
        return tuple(task.labels)
    return tuple(sorted(man.df["label"].astype(str).unique()))


def _run_folds(task, man, settings, splits, run_dir: Path, dev, progress) -> dict:
    from core.tasks import Recipe  # noqa: F401 - documents where recipe fields come from

    kind = settings["kind"]
    class_names = _class_names(task, man, kind) if kind != "segmentation" else ()
    emit = fan_out([progress])
    r = task.recipe
    config = FitConfig(epochs=settings["epochs"], optimizer=r.optimizer, lr=r.lr, weight_decay=r.weight_decay,
                       warmup_epochs=r.warmup_epochs, schedule=r.schedule, monitor=settings["monitor"],
                       patience=r.patience, amp=dev.type == "cuda", keep=r.keep,
                       deadline=settings.get("deadline"), precision=r.precision,
                       channels_last=r.channels_last)
    recipe = replace(r, input_size=settings["input_size"], epochs=settings["epochs"],
                     batch_size=settings["batch_size"])
    started = read_json(run_dir / "run.json") if (run_dir / "run.json").exists() else None
    meta = training_meta(task, kind=kind, recipe=recipe, class_names=class_names, cv=settings["cv"],
                         seed=settings["seed"], monitor=settings["monitor"],
                         data_fingerprint=started["fingerprint"] if started else fingerprint(man.df),
                         training_data=training_data(man, kind, started.get("started") if started else None),
                         score_threshold=instance_kind.SCORE_THRESHOLD if kind == "instance" else None,
                         arch_kwargs=settings["arch_kwargs"])
    if kind == "instance":
        plan = instance_kind.plan_run(task, man, settings, config, meta, dev, emit)
        fold_runner = instance_kind.run_fold
    else:
        plan = _dense_plan(task, man, settings, config, meta, dev, emit, class_names)
        fold_runner = run_fold
    results = []
    for k, split in enumerate(splits):
        fold_dir = run_dir / "folds" / str(k)
        if (fold_dir / "result.json").exists():
            results.append(read_json(fold_dir / "result.json"))
            emit({"event": "fold_skipped", "fold": k, "n_folds": len(splits)})
            continue
        results.append(fold_runner(plan, split, k, len(splits), fold_dir, emit=emit))
    return _finish(task, settings, splits, results, run_dir, plan.bundle_meta)


def _dense_plan(task, man, settings, config, meta, dev, emit, class_names) -> FoldPlan:
    """Pictures (and masks) decoded once for all folds of a classification / segmentation / multitask run."""
    kind = settings["kind"]
    pictures = load_pictures(man.df, root=man.root, size=base_size(settings["input_size"], task.recipe.crop_ratio),
                             in_channels=settings["in_channels"], with_masks=kind != "classification",
                             frame_step=task.protocol.frame_step, progress=emit, roi=task.recipe.roi,
                             resize_mode=task.recipe.resize)
    targets = None
    if class_names:
        index = {c: i for i, c in enumerate(class_names)}
        bad = sorted(set(pictures.records["label"].astype(str)) - set(index))
        if bad:
            raise InputError(f"manifest: label {bad[0]!r} is not one of {', '.join(class_names)}")
        targets = pictures.records["label"].astype(str).map(index).to_numpy(dtype=np.int64)
    return FoldPlan(task=task, arch=settings["arch"], kind=kind, pictures=pictures, targets=targets,
                    class_names=class_names, config=config, input_size=settings["input_size"],
                    batch_size=settings["batch_size"], in_channels=settings["in_channels"], seed=settings["seed"],
                    device=dev, arch_kwargs=settings["arch_kwargs"], bundle_meta=meta,
                    weights=settings.get("weights"))


def _read_tables(run_dir: Path, n: int, name: str) -> pd.DataFrame | None:
    parts = [pd.read_csv(run_dir / "folds" / str(k) / name) for k in range(n)
             if (run_dir / "folds" / str(k) / name).exists()]
    return pd.concat(parts, ignore_index=True) if parts else None


def _finish(task, settings, splits, results, run_dir: Path, meta) -> dict:
    from core.models import load_bundle, save_bundle
    from core.models.ensemble import ModelEnsemble

    detector = settings["kind"] == "instance"
    oof = _read_tables(run_dir, len(splits), "predictions.csv")
    per_case = _read_tables(run_dir, len(splits), "per_case.csv")
    scheme, _ = parse_cv(settings["cv"])
    if detector:
        metrics = flag_metrics(instance_kind.run_metrics(results, run_dir, settings))
    else:
        metrics = run_metrics(oof, per_case, aggregation=task.protocol.aggregation, by_fold=scheme == "repeated",
                              positive=task.positive_label)
    metrics["n_folds"] = len(splits)
    bundle_dir = run_dir / "bundle"
    if dist_util.is_main():
        if oof is not None:
            oof.to_csv(run_dir / "oof_predictions.csv", index=False)
        if per_case is not None:
            per_case.to_csv(run_dir / "per_case.csv", index=False)
        members = [f"../folds/{k}/bundle" for k in range(len(splits))]
        best = max(range(len(results)), key=lambda k: _best_score(results[k]))
        final_meta = {**meta, "metrics": {k: v for k, v in metrics.items() if k != "runs"},
                      "ensemble_members": members, "best_fold": best}
        if len(splits) == 1:
            model = load_bundle(run_dir / "folds" / "0" / "bundle")[0]
        elif detector:      # detections of several detectors are not averaged like class probabilities
            model = load_bundle(run_dir / "folds" / str(best) / "bundle")[0]
            final_meta["ensemble"] = "best run on validation mask mAP@0.5 only (members listed)"
        elif len(splits) <= MAX_ENSEMBLE:
            model = ModelEnsemble([load_bundle(run_dir / "folds" / str(k) / "bundle")[0] for k in range(len(splits))])
            final_meta["ensemble"] = "mean of fold-model probabilities"
        else:
            model = load_bundle(run_dir / "folds" / str(best) / "bundle")[0]
            final_meta["ensemble"] = "best fold only (members listed)"
        save_bundle(bundle_dir, model, final_meta)
        write_json(run_dir / "metrics.json", metrics)
    dist_util.barrier()
    return {"run_dir": str(run_dir), "bundle": str(bundle_dir), "metrics": metrics}


def _best_score(result: dict) -> float:
    from core.training.trainer import monitor_score

    best = result.get("best_val") or {}
    if "val_loss" not in best:
        return -math.inf
    score = monitor_score(best, result.get("monitor", "val_loss"))
    return score if math.isfinite(score) else -math.inf
