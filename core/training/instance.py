"""The instance kind (Mask R-CNN, the first-trimester protocol) inside the common run of :mod:`core.training.run`.

Why so little of its own: the run is shared with every other kind -- settings, patient-level splits
(:mod:`core.data.splits`), the run folder and ``--resume`` (finished folds kept, an unfinished one continued
from its epoch checkpoint), the epoch loop with early stopping, checkpoints and progress events
(:class:`core.training.trainer.Trainer` with :class:`core.training.adapters.InstanceAdapter`) and the final
bundle. What differs lives here: samples with instance masks instead of pictures
(:mod:`core.training.instance_data`), held-out scoring with the paper's metrics (per-structure table, mask and
box mAP@0.5, view accuracy, FPS), and the run's metrics as mean and SD over its runs. Protocol ``repeated:N``
is the paper's: one fixed 5 % test set, the rest split 4:1 train/validation with N seeds; the final bundle is
the run with the best validation mask mAP@0.5 (detections are not averaged like class probabilities).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from core.data.splits import Split
from core.errors import InputError
from core.evaluation.instance import summarize_runs, summarize_tables
from core.models.bundle import save_bundle
from core.models.instance import DEFAULT_SCORE_THRESHOLD, working_size
from core.models.registry import build_model
from core.training import distributed as dist_util
from core.training.adapters import InstanceAdapter
from core.training.checkpoint import write_json
from core.training.instance_data import FoldInstances, collate, load_samples
from core.training.trainer import FitConfig, Trainer

SCORE_THRESHOLD = DEFAULT_SCORE_THRESHOLD       # the paper's confidence threshold (0.3)
CLIP_GRAD_NORM = 10.0           # SGD at lr 5e-3 on a randomly initialised detector spikes without it
MIN_WARMUP_STEPS = 100          # ... and without a warm-up of min(100 steps, a quarter of the run)
RUN_KEYS = ("mask_map50", "box_map50", "view_accuracy", "fps")


def run_settings(recipe, input_size: int) -> dict:
    """What an instance run adds to the common settings: the detector's internal resize (recorded in the
    bundle's arch_kwargs so the predictor resizes as training did)."""
    return {"arch_kwargs": working_size(input_size), "monitor": "val_mask_map50"}


@dataclass
class InstancePlan:
    """Everything a fold needs that is the same for every fold of an instance run."""

    task: object
    arch: str
    structures: tuple
    samples: list                 # core.training.instance_data.InstanceSample, the whole manifest
    config: FitConfig
    batch_size: int
    in_channels: int
    seed: int
    device: torch.device
    arch_kwargs: dict
    bundle_meta: dict


def plan_run(task, man, settings: dict, config: FitConfig, meta: dict, device, emit: Callable) -> InstancePlan:
    """Decode the manifest's images and instance masks once (shorter side = the input size) for all folds."""
    structures = tuple(meta["class_names"])
    samples = load_samples(man.df, structures=structures, short_side=int(settings["input_size"]),
                           progress=lambda done, total: emit({"event": "load", "done": done, "total": total}))
    size = settings["arch_kwargs"]
    # core.models.meta_builder.training_meta: structures, views, score threshold, working size
    bundle_meta = dict(meta)
    return InstancePlan(task=task, arch=settings["arch"], structures=structures, samples=samples,
                        config=replace(config, clip_grad_norm=CLIP_GRAD_NORM, min_warmup_steps=MIN_WARMUP_STEPS),
                        batch_size=int(settings["batch_size"]), in_channels=int(settings["in_channels"]),
                        seed=int(settings["seed"]), device=device, arch_kwargs=dict(size), bundle_meta=bundle_meta)


def _indices(plan: InstancePlan, patients) -> list[int]:
    keep = {str(p) for p in patients}
    return [i for i, s in enumerate(plan.samples) if s.patient_id in keep]


def _loader(plan: InstancePlan, idx, *, train: bool, fold: int):
    seed = plan.seed * 7919 + fold
    ds = FoldInstances(plan.samples, idx, train=train, seed=seed, in_channels=plan.in_channels)
    if not train:
        return torch.utils.data.DataLoader(ds, batch_size=plan.batch_size, shuffle=False, collate_fn=collate)
    gen = torch.Generator().manual_seed(seed)
    sampler = dist_util.train_sampler(ds, seed=plan.seed + fold, generator=gen)
    return torch.utils.data.DataLoader(ds, batch_size=plan.batch_size, sampler=sampler, collate_fn=collate,
                                       drop_last=len(idx) > plan.batch_size)


def build_fold_model(plan: InstancePlan, fold: int):
    """A fresh detector, its random initialisation seeded per fold without touching global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(plan.seed * 104_729 + fold)
        return build_model(plan.arch, num_classes=len(plan.structures), in_channels=plan.in_channels,
                           **plan.arch_kwargs)


def run_fold(plan: InstancePlan, split: Split, fold: int, n_folds: int, fold_dir: Path, *,
             emit: Callable | None = None) -> dict:
    """Train run ``fold`` (resuming from its checkpoint), score its test images, write its bundle,
    per_structure.csv and (last) result.json -- the contract of :func:`core.training.folds.run_fold`."""
    fold_dir.mkdir(parents=True, exist_ok=True)
    train_idx, val_idx, test_idx = (_indices(plan, p) for p in (split.train, split.val, split.test))
    if not train_idx:
        raise InputError(f"split {split.name}: no training images")
    adapter = InstanceAdapter(plan.samples, plan.structures, views=dict(plan.task.views or {}),
                              score_threshold=SCORE_THRESHOLD)
    model = build_fold_model(plan, fold)
    trainer = Trainer(model, adapter=adapter, config=plan.config, device=plan.device, emit=emit, fold=fold,
                      n_folds=n_folds, seed=plan.seed * 7919 + fold)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[plan.device] if plan.device.type == "cuda" else []):
        fit = trainer.fit(_loader(plan, train_idx, train=True, fold=fold),
                          _loader(plan, val_idx, train=False, fold=fold), checkpoint_path=fold_dir / "checkpoint.pt")
        train_seconds = time.perf_counter() - start
        test = adapter.evaluate(trainer.predict(_loader(plan, test_idx, train=False, fold=fold)))
    table = test.pop("per_structure")
    best = fit["best_metrics"]
    result = {"fold": fold, "name": split.name, "run": split.name, **test, "train_seconds": train_seconds,
              "best_epoch": fit["best_epoch"], "epochs_run": fit["epochs_run"], "best_val": best,
              "monitor": plan.config.monitor, "val_mask_map50": best.get("val_mask_map50"),
              "history": fit["history"], "n_train": len(train_idx), "n_val": len(val_idx), "n_test": len(test_idx)}
    if dist_util.is_main():
        table.to_csv(fold_dir / "per_structure.csv")
        meta = {**plan.bundle_meta, "fold": fold, "metrics": {k: test.get(k) for k in ("mask_map50", "box_map50")}}
        save_bundle(fold_dir / "bundle", model.cpu(), meta)
        write_json(fold_dir / "result.json", result)
        (fold_dir / "checkpoint.pt").unlink(missing_ok=True)
    dist_util.barrier()
    return result


def run_metrics(results: list, run_dir: Path, settings: dict) -> dict:
    """Mean and SD over the runs of the test-set metrics, the per-structure table (mean over runs; also
    written to RUN_DIR/per_structure.csv) and each run's figures (``runs``, without the epoch history)."""
    tables = [pd.read_csv(run_dir / "folds" / str(r["fold"]) / "per_structure.csv", index_col="structure")
              for r in results]
    metrics = summarize_runs(results, keys=RUN_KEYS)
    per_structure = summarize_tables(tables)
    if dist_util.is_main():
        per_structure.to_csv(run_dir / "per_structure.csv")
    metrics.update({"n_runs": len(results), "cv": settings["cv"], "epochs": settings["epochs"],
                    "train_seconds": float(sum(r["train_seconds"] for r in results)),
                    "per_structure": per_structure.reset_index().to_dict(orient="records"),
                    "runs": [{k: v for k, v in r.items() if k != "history"} for r in results]})
    return metrics
