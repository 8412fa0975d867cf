"""One fold of a cross-validation run: datasets, fit, held-out predictions, the fold's bundle.

Why a separate module: :mod:`core.training.run` decides *which* folds run (resume skips finished ones) and
pools their results; this module knows how to train and score one fold. A fold is finished when
``folds/K/result.json`` exists: it is written last, after the bundle and the prediction tables, so a run killed
anywhere inside a fold redoes (or resumes from its epoch checkpoint) only that fold.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from core.data.augment import build_transform
from core.data.datasets import Pictures, SampleDataset, read_mask
from core.data.splits import Split
from core.training import distributed as dist_util
from core.evaluation import UndefinedMetricWarning
from core.segmentation.metrics import dice, iou
from core.tasks import positive_index
from core.training.adapters import Adapter
from core.training.checkpoint import write_json
from core.training.losses import class_weights
from core.training.trainer import FitConfig, Trainer


@dataclass
class FoldPlan:
    """Everything a fold needs that is the same for every fold of a run."""

    task: object                  # core.tasks.Task
    arch: str
    kind: str                     # classification | segmentation | multitask (the network's kind)
    pictures: Pictures
    targets: np.ndarray | None    # class index per sample
    class_names: tuple
    config: FitConfig
    input_size: int
    batch_size: int
    in_channels: int
    seed: int
    device: torch.device
    arch_kwargs: dict
    bundle_meta: dict             # task, class names, preprocessing, recipe ... (fold bundles add metrics)
    weights: str | None = None    # "imagenet" when the weights are in the local cache, else None (scratch)


def _indices(plan: FoldPlan, patients) -> np.ndarray:
    keep = set(str(p) for p in patients)
    return np.flatnonzero(plan.pictures.records["patient_id"].isin(keep).to_numpy())


def _loader(plan: FoldPlan, idx, *, train: bool, fold: int):
    task = plan.task
    # Evaluation builds the same recipe with train=False: only its deterministic part (a centre crop) remains.
    transform = build_transform(task.recipe.augment, train=train,
                                input_size=plan.input_size, normalization=task.recipe.normalization,
                                in_channels=plan.in_channels)
    ds = SampleDataset(plan.pictures, idx, transform=transform, targets=plan.targets, seed=plan.seed * 7919 + fold)
    if not train:
        return torch.utils.data.DataLoader(ds, batch_size=plan.batch_size, shuffle=False)
    gen = torch.Generator().manual_seed(plan.seed * 7919 + fold)
    ds.generator = gen
    if task.recipe.balanced_sampling and plan.targets is not None:
        ds = BalancedEpochs(ds, [SampleDataset(plan.pictures, part, transform=transform, targets=plan.targets,
                                               seed=(plan.seed * 7919 + fold) * 31 + copy)
                                 for copy, part in enumerate(balanced_copies(plan.targets[idx], idx), start=1)])
    sampler = dist_util.train_sampler(ds, seed=plan.seed + fold, generator=gen)
    drop_last = len(ds) > plan.batch_size        # a final batch of one breaks batch norm
    return torch.utils.data.DataLoader(ds, batch_size=plan.batch_size, sampler=sampler, drop_last=drop_last)


def balanced_copies(targets, idx) -> list[np.ndarray]:
    """Extra copies of the rarer classes' samples that make an epoch class-balanced (the preterm paper's
    "class-balanced 50:50 augmentation"): a class with n_c of the commonest class's n_max samples is repeated
    round(n_max / n_c) times in all. Returns the copies beyond the first, as arrays of ``idx`` entries.

    Why copies and not weighted draws with replacement: every sample is still drawn once per epoch, so a
    segmentation loss sharing the batches sees the whole training set (weighted draws spent half of each epoch
    on the few rare-class images and left much of the common class unseen), and each copy gets its own
    augmentation (a dataset seed of its own).

    >>> [c.tolist() for c in balanced_copies(np.array([0, 0, 0, 0, 1]), np.array([10, 11, 12, 13, 14]))]
    [[14], [14], [14]]
    """
    targets, idx = np.asarray(targets), np.asarray(idx)
    counts = np.bincount(targets)
    n_max = counts.max() if len(counts) else 0
    copies: list[list[int]] = []
    for c, n_c in enumerate(counts):
        for k in range(int(round(n_max / n_c)) - 1 if n_c else 0):
            if len(copies) <= k:
                copies.append([])
            copies[k] += idx[targets == c].tolist()
    return [np.asarray(c, dtype=np.int64) for c in copies]


class BalancedEpochs(torch.utils.data.ConcatDataset):
    """The training set followed by the rare classes' extra copies (:func:`balanced_copies`); ``set_epoch``
    reaches every part, so each copy draws new augmentations each epoch."""

    def __init__(self, base: SampleDataset, extra: list):
        super().__init__([base, *extra])
        self.generator = base.generator

    def set_epoch(self, epoch: int) -> None:
        for part in self.datasets:
            part.set_epoch(epoch)

    def targets_drawn(self) -> np.ndarray:
        """Class index of every sample of an epoch (the loss's class frequencies)."""
        return np.concatenate([part.targets[part.indices] for part in self.datasets])


def build_fold_model(plan: FoldPlan, fold: int):
    """A fresh network, its random initialisation seeded per fold without touching global RNG state."""
    from core.models import build_model

    num_classes = 1 if plan.kind == "segmentation" else len(plan.class_names)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(plan.seed * 104_729 + fold)
        return build_model(plan.arch, num_classes=num_classes, in_channels=plan.in_channels, weights=plan.weights,
                           **plan.arch_kwargs)


def _upsampled_mask(prob: np.ndarray, height: int, width: int, mode: str = "stretch") -> np.ndarray:
    from core.models.transforms import restore_size

    return restore_size(prob, height, width, mode=mode) >= 0.5


def _prediction_tables(plan: FoldPlan, pred: dict, fold: int, split_name: str):
    """(classification rows or None, per-case segmentation rows or None) for the held-out samples."""
    recs = plan.pictures.records.iloc[pred["indices"]].reset_index(drop=True)
    meta_cols = [c for c in recs.columns if c not in ("case", "patient_id", "image_path", "mask_path", "label")]
    base = pd.DataFrame({"case": recs["case"], "patient_id": recs["patient_id"]})
    cls_rows = seg_rows = None
    if pred.get("probs") is not None:
        probs = pred["probs"]
        truth_idx = plan.targets[pred["indices"]]
        cls_rows = base.copy()
        cls_rows["truth"] = [plan.class_names[i] for i in truth_idx]
        pos = positive_index(plan.class_names, plan.task.positive_label)
        cls_rows["score"] = probs[:, pos] if pos is not None else probs[np.arange(len(probs)), probs.argmax(1)]
        for j, name in enumerate(plan.class_names):
            cls_rows[f"score_{name}"] = probs[:, j]
        cls_rows["prediction"] = [plan.class_names[i] for i in probs.argmax(1)]
        cls_rows["fold"] = fold
        cls_rows["split"] = split_name
        for c in meta_cols:
            cls_rows[c] = recs[c].to_numpy()
    if pred.get("seg") is not None:
        dices, ious, areas, truths = [], [], [], []
        for prob, (_, r) in zip(pred["seg"], recs.iterrows()):
            truth = read_mask(r["mask_path"], row=r.get("row"))
            mask = _upsampled_mask(prob, truth.shape[0], truth.shape[1],
                                   plan.bundle_meta.get("resize_mode", "stretch"))
            with warnings.catch_warnings():   # both masks empty: NaN, counted in the run's n_cases_dice_undefined
                warnings.simplefilter("ignore", UndefinedMetricWarning)
                dices.append(dice(truth, mask))
                ious.append(iou(truth, mask))
            areas.append(int(mask.sum()))
            truths.append(int(truth.sum()))
        seg_rows = base.copy()
        seg_rows["dice"], seg_rows["iou"] = dices, ious
        seg_rows["area_pred_px"], seg_rows["area_truth_px"] = areas, truths
        seg_rows["fold"] = fold
        seg_rows["split"] = split_name
        for c in meta_cols:
            seg_rows[c] = recs[c].to_numpy()
    return cls_rows, seg_rows


def run_fold(plan: FoldPlan, split: Split, fold: int, n_folds: int, fold_dir: Path, *,
             emit: Callable | None = None) -> dict:
    """Train fold ``fold`` (resuming from its checkpoint), write its bundle, predictions and result.json."""
    from core.models import save_bundle

    fold_dir.mkdir(parents=True, exist_ok=True)
    train_idx, val_idx, test_idx = (_indices(plan, p) for p in (split.train, split.val, split.test))
    adapter = Adapter(plan.kind, targets=plan.targets, masks=plan.pictures.masks,
                      alpha=plan.task.recipe.seg_alpha, beta=plan.task.recipe.cls_beta,
                      loss_name=plan.task.recipe.loss)
    train_loader = _loader(plan, train_idx, train=True, fold=fold)
    if plan.task.recipe.class_weighting == "inverse_frequency" and plan.targets is not None:
        # The frequencies of the samples the loss sees: after class-balanced copies the classes are even and
        # the weights ~1 (weighting a balanced stream by the raw counts again would count the rare class twice).
        drawn = train_loader.dataset.targets_drawn() if isinstance(train_loader.dataset, BalancedEpochs) \
            else plan.targets[train_idx]
        adapter.class_weight = class_weights(drawn, num_classes=len(plan.class_names))
    model = build_fold_model(plan, fold)
    trainer = Trainer(model, loss_fn=adapter.loss, metrics_fn=adapter.metrics, config=plan.config,
                      device=plan.device, emit=emit, fold=fold, n_folds=n_folds, seed=plan.seed * 7919 + fold)
    # The trainer reseeds torch's global generator per epoch (dropout); forking keeps the caller's state.
    with torch.random.fork_rng(devices=[plan.device] if plan.device.type == "cuda" else []):
        fit = trainer.fit(train_loader,
                          _loader(plan, val_idx, train=False, fold=fold), checkpoint_path=fold_dir / "checkpoint.pt")
        pred = trainer.predict(_loader(plan, test_idx, train=False, fold=fold))
    cls_rows, seg_rows = _prediction_tables(plan, pred, fold, split.name)
    result = {"fold": fold, "name": split.name, "best_epoch": fit["best_epoch"], "epochs_run": fit["epochs_run"],
              "best_val": fit["best_metrics"], "monitor": plan.config.monitor, "history": fit["history"],
              "n_train": int(len(train_idx)), "n_val": int(len(val_idx)), "n_test": int(len(test_idx))}
    if dist_util.is_main():
        meta = {**plan.bundle_meta, "fold": fold, "metrics": {"best_val": fit["best_metrics"]}}
        save_bundle(fold_dir / "bundle", model.cpu(), meta)
        if cls_rows is not None:
            cls_rows.to_csv(fold_dir / "predictions.csv", index=False)
        if seg_rows is not None:
            seg_rows.to_csv(fold_dir / "per_case.csv", index=False)
        write_json(fold_dir / "result.json", result)
        (fold_dir / "checkpoint.pt").unlink(missing_ok=True)
    dist_util.barrier()
    model.to(plan.device)
    return result
