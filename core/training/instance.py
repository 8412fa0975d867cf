"""Training Mask R-CNN on instance masks, with the first-trimester paper's protocol.

Why a trainer of its own: torchvision detection models take lists of images and target dicts and return a
dict of losses in training mode and detections in eval mode, which the classification / segmentation trainer
does not speak. Everything else is shared: patient-level splits (:mod:`core.data.splits`), optimiser and
warm-up schedule (:mod:`core.training.schedule`), atomic checkpoints, progress events
(:mod:`core.training.callbacks`) and bundles. Protocol ``repeated:N`` is the paper's: one fixed 5 % test set,
the rest split 4:1 train/validation with N seeds; the metrics are the mean and SD over the N runs on the test
set, and the bundle kept is the run with the best validation mask mAP@0.5.
"""

from __future__ import annotations

import copy
import shutil
import time
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from core.errors import InputError
from core.evaluation.instance import evaluate_instances, summarize_runs, summarize_tables
from core.models.instance import outputs_to_instances, working_size
from core.training.checkpoint import load_checkpoint, read_json, save_checkpoint, write_json
from core.training.instance_data import InstanceDataset, collate, load_samples
from core.training.schedule import build_optimizer, lr_lambda

SCORE_THRESHOLD = 0.3


def _resolve_task(task):
    from core.tasks import get_task

    if not isinstance(task, str):
        return task
    return get_task(task)


def _manifest_frame(manifest, task):
    """A DataFrame of the manifest rows (from a path, a Manifest or a DataFrame), paths absolute."""
    if hasattr(manifest, "df"):
        return manifest.df
    if hasattr(manifest, "columns"):
        return manifest
    from core.data.manifest import load_manifest

    return load_manifest(manifest, task=task).df


def _structures(task, df):
    """The task's structures; the generic ``instance`` task takes them from the manifest's instance_classes."""
    if task.structures:
        return tuple(task.structures)
    from core.tasks import get_task

    names = {part.partition(":")[2].strip() for cell in df["instance_classes"].dropna()
             for part in str(cell).split(";") if ":" in part}
    if not names:
        raise InputError("manifest: column instance_classes names no structure")
    return get_task(task.name, structures=names).structures


def _splits(df, cv, seed, protocol):
    from core.data.splits import fixed_split, make_splits

    if "split" in df.columns and df["split"].notna().all() and cv is None:
        return [fixed_split(df["patient_id"].astype(str).tolist(), df["split"].tolist())]
    patients = sorted(df["patient_id"].astype(str).unique())
    return make_splits(patients, labels=None, cv=cv or protocol.cv, seed=seed,
                       fractions=protocol.split_fractions)


@torch.inference_mode()
def predict_samples(model, samples, structures, *, in_channels: int = 3, device: str = "cpu"):
    """Detections (:class:`core.models.instance.Instances`) per sample, one image at a time; and the FPS."""
    model.eval()
    ds = InstanceDataset(samples, train=False, in_channels=in_channels)
    out, start = [], time.perf_counter()
    for i in range(len(ds)):
        image, _ = ds[i]
        out.append(outputs_to_instances(model([image.to(device)])[0], structures, score_threshold=SCORE_THRESHOLD))
    elapsed = time.perf_counter() - start
    return out, (len(ds) / elapsed if elapsed > 0 and len(ds) else float("nan"))


def evaluate_samples(model, samples, task, structures, *, in_channels: int = 3, device: str = "cpu") -> dict:
    """The paper's metrics on ``samples`` (the views named in the manifest's label column when present)."""
    preds, fps = predict_samples(model, samples, structures, in_channels=in_channels, device=device)
    truths = [{"labels": s.labels, "masks": s.masks} for s in samples]
    true_views = None
    if task.views and all(s.view in task.views for s in samples):
        true_views = [s.view for s in samples]
    result = evaluate_instances(truths, preds, structures=structures, views=task.views or None,
                                true_views=true_views)
    result["fps"] = fps
    return result


def _emit(progress, **event):
    if progress is not None:
        progress(event)


def fit(model, train_samples, val_samples, *, task, structures, recipe, epochs: int, seed: int, run_dir: Path,
        fold: int = 0, n_folds: int = 1, in_channels: int = 3, device: str = "cpu", progress=None) -> dict:
    """Train one run; keep the weights of the epoch with the best validation mask mAP@0.5 (last if no val).

    Resumes from ``run_dir/checkpoint.pt`` when present (written atomically after every epoch).
    """
    model.to(device)
    ds = InstanceDataset(train_samples, train=True, seed=seed, in_channels=in_channels)
    generator = torch.Generator().manual_seed(seed)
    batch = max(1, min(int(recipe.batch_size), len(ds)))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, collate_fn=collate,
                                         generator=generator, drop_last=len(ds) > batch)
    steps = len(loader)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, name=recipe.optimizer, lr=recipe.lr, weight_decay=recipe.weight_decay)
    warmup = max(int(recipe.warmup_epochs) * steps, min(100, (epochs * steps) // 4))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(total_steps=epochs * steps, warmup_steps=warmup, schedule=recipe.schedule))
    state = {"epoch": 0, "best_value": -1.0, "best_epoch": -1, "history": [], "best_state": None}
    ckpt = run_dir / "checkpoint.pt"
    if ckpt.is_file():
        saved = load_checkpoint(ckpt)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved["generator"])
        state.update({k: saved[k] for k in ("epoch", "best_value", "best_epoch", "history", "best_state")})
    for epoch in range(state["epoch"], epochs):
        model.train()
        ds.set_epoch(epoch)
        losses = []
        for step, (images, targets) in enumerate(loader, start=1):
            images = [im.to(device) for im in images]
            targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
            loss = sum(model(images, targets).values())
            if not torch.isfinite(loss):
                raise RuntimeError(f"training diverged (loss {loss.item()}) at epoch {epoch + 1}, step {step}; "
                                   "lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.item()))
            _emit(progress, event="batch", fold=fold, epoch=epoch, step=step, steps=steps, loss=losses[-1])
        value = None
        if val_samples:
            value = evaluate_samples(model, val_samples, task, structures, in_channels=in_channels,
                                     device=device)["mask_map50"]
        better = value is None or not np.isfinite(value) or value > state["best_value"]
        if better:
            state["best_value"] = float(value) if value is not None and np.isfinite(value) else -1.0
            state["best_epoch"] = epoch
            state["best_state"] = copy.deepcopy(model.state_dict())
        state["history"].append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_mask_map50": value})
        state["epoch"] = epoch + 1
        save_checkpoint(ckpt, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "scheduler": scheduler.state_dict(), "generator": generator.get_state(), **state})
        _emit(progress, event="epoch_end", fold=fold, n_folds=n_folds, epoch=epoch, epochs=epochs,
              loss=float(np.mean(losses)), val_loss=None, monitor="val_mask_map50", value=value)
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    return {"best_epoch": state["best_epoch"] + 1, "val_mask_map50": state["best_value"],
            "history": state["history"]}


def _bundle_meta(task, arch, structures, model, recipe, metrics) -> dict:
    build = getattr(model, "sonodash_build", {})
    return {"kind": "instance", "task": task.name, "architecture": arch, "structures": list(structures),
            "class_names": list(structures), "views": {k: list(v) for k, v in (task.views or {}).items()},
            "in_channels": int(build.get("in_channels", recipe.in_channels)), "num_classes": len(structures),
            "min_size": int(model.transform.min_size[0]), "max_size": int(model.transform.max_size),
            "normalization": "imagenet", "input_size": int(recipe.input_size),
            "score_threshold": SCORE_THRESHOLD, "recipe": asdict(recipe), "metrics": metrics,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _run_one(i, split, *, samples, task, arch, structures, recipe, epochs, seed, out, progress, n_runs, device):
    from core.models.bundle import save_bundle
    from core.models.registry import build_model

    run_dir = out / split.name
    result_path = run_dir / "result.json"
    if result_path.is_file():
        _emit(progress, event="fold_skipped", fold=i, n_folds=n_runs)
        return read_json(result_path)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "split.json", split.to_dict())
    part = split.part_of()
    by_part = {k: [s for s in samples if part.get(s.patient_id) == k] for k in ("train", "val", "test")}
    if not by_part["train"]:
        raise InputError(f"split {split.name}: no training images")
    _emit(progress, event="fold_start", fold=i, n_folds=n_runs, epochs=epochs)
    run_seed = seed * 1000 + i
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(run_seed)     # initial weights: reproducible, global state restored afterwards
        model = build_model(arch, num_classes=len(structures), in_channels=recipe.in_channels,
                            **working_size(recipe.input_size))
    start = time.perf_counter()
    fitted = fit(model, by_part["train"], by_part["val"], task=task, structures=structures, recipe=recipe,
                 epochs=epochs, seed=run_seed, run_dir=run_dir, fold=i, n_folds=n_runs,
                 in_channels=recipe.in_channels, device=device, progress=progress)
    train_seconds = time.perf_counter() - start
    test = evaluate_samples(model, by_part["test"], task, structures, in_channels=recipe.in_channels,
                            device=device)
    model.to("cpu")
    table = test.pop("per_structure")
    table.to_csv(run_dir / "per_structure.csv")
    result = {"run": split.name, **{k: v for k, v in test.items()}, "train_seconds": train_seconds,
              "best_epoch": fitted["best_epoch"], "val_mask_map50": fitted["val_mask_map50"],
              "history": fitted["history"], "n_train": len(by_part["train"]), "n_val": len(by_part["val"]),
              "n_test": len(by_part["test"])}
    save_bundle(run_dir / "bundle", model, _bundle_meta(task, arch, structures, model, recipe,
                                                        {k: result[k] for k in ("mask_map50", "box_map50")}))
    write_json(result_path, result)
    (run_dir / "checkpoint.pt").unlink(missing_ok=True)
    _emit(progress, event="fold_end", fold=i, n_folds=n_runs, best=result["val_mask_map50"])
    return result


def train_instance(task, manifest, *, arch=None, cv=None, epochs=None, out=None, resume=False, progress=None,
                   seed: int = 0, input_size: int | None = None, batch_size: int | None = None,
                   device: str | None = None) -> dict:
    """Train and evaluate an instance task; returns ``dict(run_dir, bundle, metrics)``.

    ``metrics`` has ``mask_map50`` / ``box_map50`` / ``view_accuracy`` (mean over runs on the test set) with
    ``*_sd``, ``per_structure`` (the paper's table, mean over runs) and ``runs``. ``resume`` continues a run
    folder: finished runs are kept, an interrupted one restarts from its last epoch. ``input_size`` /
    ``batch_size`` override the recipe; ``device`` defaults to CUDA when present.
    """
    from core.paths import sonodash_home

    task = _resolve_task(task)
    if task.kind != "instance":
        raise InputError(f"task {task.name!r} is not an instance-segmentation task")
    arch = arch or task.default_arch
    from core.models.registry import model_kind

    if model_kind(arch) != "instance":
        raise InputError(f"--arch {arch}: not an instance-segmentation architecture (use maskrcnn, "
                         "maskrcnn_mobilenet or maskrcnn_lite)")
    epochs = int(epochs or task.recipe.epochs)
    if epochs < 1:
        raise InputError(f"--epochs {epochs}: must be at least 1")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(out) if out else sonodash_home() / "runs" / f"{task.name}-{arch}-{stamp}"
    if out.exists() and any(out.iterdir()) and not resume:
        raise InputError(f"--out {out}: folder exists and is not empty; pass --resume to continue it")
    out.mkdir(parents=True, exist_ok=True)
    df = _manifest_frame(manifest, task)
    structures = _structures(task, df)
    recipe = replace(task.recipe, input_size=int(input_size or task.recipe.input_size),
                     batch_size=int(batch_size or task.recipe.batch_size))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    samples = load_samples(df, structures=structures, short_side=int(recipe.input_size))
    splits = _splits(df, cv, seed, task.protocol)
    write_json(out / "run.json", {"task": task.name, "arch": arch, "cv": cv or task.protocol.cv, "epochs": epochs,
                                  "seed": seed, "structures": list(structures), "n_images": len(samples),
                                  "input_size": recipe.input_size, "batch_size": recipe.batch_size,
                                  "device": device})
    runs = [_run_one(i, split, samples=samples, task=task, arch=arch, structures=structures, recipe=recipe,
                     epochs=epochs, seed=seed, out=out, progress=progress, n_runs=len(splits), device=device)
            for i, split in enumerate(splits)]
    tables = [_read_table(out / r["run"] / "per_structure.csv") for r in runs]
    metrics = summarize_runs(runs, keys=("mask_map50", "box_map50", "view_accuracy", "fps"))
    per_structure = summarize_tables(tables)
    per_structure.to_csv(out / "per_structure.csv")
    metrics.update({"n_runs": len(runs), "cv": cv or task.protocol.cv, "epochs": epochs,
                    "train_seconds": float(sum(r["train_seconds"] for r in runs)),
                    "per_structure": per_structure.reset_index().to_dict(orient="records"),
                    "runs": [{k: v for k, v in r.items() if k != "history"} for r in runs]})
    best = max(runs, key=lambda r: (r["val_mask_map50"] if r["val_mask_map50"] is not None else -1.0))
    bundle = out / "bundle"
    if bundle.exists():
        shutil.rmtree(bundle)
    shutil.copytree(out / best["run"] / "bundle", bundle)
    write_json(out / "metrics.json", metrics)
    return {"run_dir": str(out), "bundle": str(bundle), "metrics": metrics}


def _read_table(path):
    import pandas as pd

    return pd.read_csv(path, index_col="structure")
