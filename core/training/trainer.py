"""The training loop of one fold: optimiser and schedule from the recipe, early stopping, atomic checkpoints.

Why one small loop for every task kind: classification, segmentation, the multitask net and instance
segmentation (Mask R-CNN) differ only in how a batch gives its training loss, how a loader gives predictions
and what validation measures; those come in as an *adapter* (:mod:`core.training.adapters`: ``train_loss``,
``predict``, ``metrics``), the loop stays the same. Plain ``loss_fn`` / ``metrics_fn`` still work for dense
networks (``image`` in, logits out). The best-on-validation weights are kept (the paper
protocols keep the best model of each fold), training stops after ``patience`` epochs without improvement;
``keep="last"`` instead runs the whole schedule and keeps the final weights (a cosine schedule annealed to 0,
where a small validation set's pick is noise), validation is then only recorded. After every epoch the full
state (model, optimiser, scheduler, best weights, history) is written atomically, so a killed run resumes at
the last finished epoch.

Devices: all CPU cores (torch.set_num_threads is set by the caller), a CUDA GPU when present, with automatic
mixed precision there. Distributed (torchrun): the model is wrapped in DistributedDataParallel by
:mod:`core.training.distributed`; validation runs on every rank and rank 0's numbers are broadcast so all
ranks take the same early-stopping decision; only rank 0 writes files.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from core.errors import InputError
from core.training import distributed as dist_util
from core.training.checkpoint import load_checkpoint, save_checkpoint
from core.training.losses import class_probabilities, split_outputs
from core.training.schedule import build_optimizer, build_scheduler


@dataclass(frozen=True)
class FitConfig:
    epochs: int
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_epochs: int = 0
    schedule: str = "constant"
    monitor: str = "val_loss"
    patience: int = 5
    amp: bool = False
    clip_grad_norm: float | None = None     # clip the gradient norm (Mask R-CNN with SGD); None: no clipping
    min_warmup_steps: int = 0   # warm up over at least min(this, a quarter of all steps) steps (detectors)
    keep: str = "best"          # "best": best-on-validation weights, early stopping; "last": final weights
    # Wall-clock deadline (time.time() seconds) for bench-real's budget: no epoch starts that the last epoch's
    # duration says would end after it. None: no deadline.
    deadline: float | None = None
    # "fp32", or "bf16": bfloat16 autocast on a CPU that computes it natively (AMX / AVX512-BF16; about twice
    # as fast for convolutions there); elsewhere it falls back to fp32 (emulated bf16 is slower).
    precision: str = "fp32"
    # Train in channels-last memory order (core.tasks.Recipe.channels_last); weights handed back are contiguous.
    channels_last: bool = False

    def __post_init__(self):
        if self.keep not in ("best", "last"):
            raise InputError(f"keep {self.keep!r}; choose best or last")
        if self.precision not in ("fp32", "bf16"):
            raise InputError(f"precision {self.precision!r}; choose fp32 or bf16")


def cpu_bf16_native() -> bool:
    """Whether this CPU runs bfloat16 convolutions natively (oneDNN's check: AVX512-BF16 or AMX)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _cpu_copy(state: dict) -> dict:
    """A CPU copy of a state dict in contiguous memory order (whatever order the training model uses)."""
    return {k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in state.items()}


def _to_device(batch, device):
    """Tensors moved to ``device`` inside dicts and lists (a detector's batch is lists of images and targets)."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


@torch.no_grad()
def dense_predict(model, loader, loss_fn, *, device, autocast) -> dict:
    """Mean loss plus per-sample outputs of a dense network: ``indices``, ``probs`` (N, K) and/or ``seg``
    (N, S, S) in [0, 1]."""
    model.eval()
    losses, weights, idx, probs, segs = [], [], [], [], []
    for batch in loader:
        batch = _to_device(batch, device)
        with autocast():
            out = model(batch["image"])
            loss = loss_fn(out, batch)
        losses.append(float(loss))
        weights.append(len(batch["index"]))
        seg, cls = split_outputs(out)
        idx.append(batch["index"].cpu().numpy())
        if cls is not None:
            probs.append(class_probabilities(cls).cpu().numpy())
        if seg is not None:
            segs.append(torch.sigmoid(seg.float()).cpu().numpy().astype(np.float16))
    return {"loss": float(np.average(losses, weights=weights)) if losses else float("nan"),
            "indices": np.concatenate(idx) if idx else np.zeros(0, dtype=np.int64),
            "probs": np.concatenate(probs) if probs else None,
            "seg": np.concatenate(segs) if segs else None}


class FunctionAdapter:
    """A dense adapter from a bare ``loss_fn(outputs, batch)`` and ``metrics_fn(pred)``."""

    def __init__(self, loss_fn: Callable, metrics_fn: Callable | None = None):
        self.loss, self._metrics = loss_fn, metrics_fn

    def train_loss(self, net, batch):
        return self.loss(net(batch["image"]), batch)

    def predict(self, model, loader, *, device, autocast) -> dict:
        return dense_predict(model, loader, self.loss, device=device, autocast=autocast)

    def metrics(self, pred: dict) -> dict:
        return self._metrics(pred) if self._metrics is not None else {}


def monitor_score(metrics: dict, monitor: str) -> float:
    """Higher is better. A loss is negated; an undefined metric (AUC on a one-class validation set) falls back
    to the negated validation loss (that stays so for the whole fold, the validation set does not change)."""
    value = metrics.get(monitor)
    if value is None or not math.isfinite(float(value)):
        return -float(metrics["val_loss"])
    return -float(value) if "loss" in monitor else float(value)


class Trainer:
    """Fits one model on one fold. ``emit(event)`` receives progress events (:mod:`core.training.callbacks`).

    ``adapter`` (one per task kind, :mod:`core.training.adapters`) turns a batch into the training loss
    (``train_loss(net, batch)``), a loader into predictions (``predict(model, loader, device=, autocast=)``:
    a dict with ``indices`` and ``loss``, the mean validation loss, NaN for a network that has none in eval
    mode) and predictions into validation metrics (``metrics(pred)``). Without one, ``loss_fn`` and
    ``metrics_fn`` make a dense adapter (:class:`FunctionAdapter`).
    """

    def __init__(self, model: torch.nn.Module, *, config: FitConfig, device: torch.device, adapter=None,
                 loss_fn: Callable | None = None, metrics_fn: Callable | None = None,
                 emit: Callable | None = None, fold: int = 0, n_folds: int = 1, seed: int | None = None):
        if adapter is None:
            if loss_fn is None:
                raise TypeError("Trainer needs an adapter or a loss_fn")
            adapter = FunctionAdapter(loss_fn, metrics_fn)
        self.model = model.to(device, memory_format=torch.channels_last) if config.channels_last else model.to(device)
        self.net = dist_util.wrap_model(self.model, device)
        self.adapter, self.config = adapter, config
        self.device = device
        self.emit = emit or (lambda event: None)
        self.fold, self.n_folds = fold, n_folds
        self.amp = bool(config.amp and device.type == "cuda")
        self.cpu_bf16 = config.precision == "bf16" and device.type == "cpu" and cpu_bf16_native()
        self.seed = seed

    def _autocast(self):
        if self.cpu_bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp)

    def predict(self, loader) -> dict:
        """The adapter's predictions on ``loader`` (``loss``, ``indices`` and the kind's outputs)."""
        return self.adapter.predict(self.model, loader, device=self.device, autocast=self._autocast)

    def _train_epoch(self, loader, optimizer, scheduler, scaler, epoch: int) -> float:
        self.net.train()
        total, n = 0.0, 0
        steps = len(loader)
        for step, batch in enumerate(loader, start=1):
            batch = _to_device(batch, self.device)
            optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                loss = self.adapter.train_loss(self.net, batch)
            if not self.amp and not torch.isfinite(loss):    # (with AMP the scaler skips inf/NaN steps)
                raise RuntimeError(f"training diverged (loss {float(loss)}) at epoch {epoch + 1}, step {step}; "
                                   "lower the learning rate")
            scaler.scale(loss).backward()
            if self.config.clip_grad_norm:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            k = len(batch["index"])
            total += float(loss.detach()) * k
            n += k
            self.emit({"event": "batch", "fold": self.fold, "epoch": epoch, "step": step, "steps": steps,
                       "loss": float(loss.detach())})
            if self.config.deadline is not None and time.time() >= self.config.deadline:
                # Budget spent mid-epoch (one epoch can outlast a short budget on a busy CPU): end the epoch
                # here; it is validated as usual and the next epoch's deadline check stops the fit.
                # Single-process only (bench-real): ranks could disagree on the clock.
                break
        return total / max(n, 1)

    def fit(self, train_loader, val_loader, *, checkpoint_path=None) -> dict:
        """Train; returns ``best_state`` (CPU state dict), ``best_epoch``, ``best_metrics``, ``history``."""
        cfg = self.config
        optimizer = build_optimizer(self.net.parameters(), name=cfg.optimizer, lr=cfg.lr,
                                    weight_decay=cfg.weight_decay)
        steps = max(len(train_loader), 1)
        # A detector's minimum warm-up in steps, as a (fractional) number of epochs for the schedule.
        warmup = max(cfg.warmup_epochs, min(cfg.min_warmup_steps, cfg.epochs * steps // 4) / steps)
        scheduler = build_scheduler(optimizer, epochs=cfg.epochs, steps_per_epoch=steps,
                                    warmup_epochs=warmup, schedule=cfg.schedule,
                                    budget=(time.time(), cfg.deadline) if cfg.deadline is not None else None)
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp)
        state = {"epoch": 0, "best_score": -math.inf, "best_epoch": -1, "best_metrics": {}, "bad_epochs": 0,
                 "history": [], "best_state": None}
        if checkpoint_path is not None and checkpoint_path.exists():
            ck = load_checkpoint(checkpoint_path)
            self.model.load_state_dict(ck["model"])
            optimizer.load_state_dict(ck["optimizer"])
            scheduler.load_state_dict(ck["scheduler"])
            scaler.load_state_dict(ck["scaler"])
            state = {k: ck[k] for k in state}
        self.emit({"event": "fold_start", "fold": self.fold, "n_folds": self.n_folds, "epochs": cfg.epochs,
                   "start_epoch": state["epoch"]})
        last_epoch_s, first_epoch = 0.0, state["epoch"]
        for epoch in range(state["epoch"], cfg.epochs):
            if state["bad_epochs"] >= cfg.patience:
                break
            started = time.time()
            if cfg.deadline is not None and epoch > first_epoch and started + last_epoch_s > cfg.deadline:
                self.emit({"event": "budget_stop", "fold": self.fold, "epoch": epoch})
                break
            for loader in (train_loader,):
                if hasattr(loader.dataset, "set_epoch"):
                    loader.dataset.set_epoch(epoch)
                if hasattr(loader.sampler, "set_epoch"):
                    loader.sampler.set_epoch(epoch)
            if self.seed is not None:
                # Dropout (and any other op that draws from torch's global generator) gets the same draws in
                # the same epoch on every run, resumed runs included; the caller forks the RNG around fit().
                torch.manual_seed((self.seed * 1_000_003 + epoch) % (2**63 - 1))
            loss = self._train_epoch(train_loader, optimizer, scheduler, scaler, epoch)
            pred = self.predict(val_loader)
            metrics = {"loss": loss, "val_loss": pred["loss"], **self.adapter.metrics(pred)}
            metrics = {k: float(v) for k, v in metrics.items()}     # plain floats: weights_only checkpoints
            metrics = dist_util.broadcast_object(metrics)
            score = monitor_score(metrics, cfg.monitor)
            # No finite score (no validation images): nothing says an epoch is worse, keep the latest weights.
            if cfg.keep == "last" or not math.isfinite(score) or score > state["best_score"]:
                state.update(best_score=score if math.isfinite(score) else state["best_score"], best_epoch=epoch,
                             best_metrics=metrics, bad_epochs=0,
                             best_state=_cpu_copy(self.model.state_dict()))
            else:
                state["bad_epochs"] += 1
            state["history"].append({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                                     for k, v in metrics.items()})
            state["epoch"] = epoch + 1
            last_epoch_s = time.time() - started
            value = metrics.get(cfg.monitor)
            self.emit({"event": "epoch_end", "fold": self.fold, "n_folds": self.n_folds, "epoch": epoch,
                       "epochs": cfg.epochs, "loss": loss, "val_loss": metrics["val_loss"],
                       "monitor": cfg.monitor, "value": None if value is None else float(value)})
            if checkpoint_path is not None and dist_util.is_main():
                save_checkpoint(checkpoint_path, {
                    **state, "model": self.model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict()})
        if state["best_state"] is None:
            state["best_state"] = _cpu_copy(self.model.state_dict())
        if cfg.channels_last:       # back to the usual order: bundles (safetensors) store contiguous tensors
            self.model.to(memory_format=torch.contiguous_format)
        self.model.load_state_dict(state["best_state"])
        self.emit({"event": "fold_end", "fold": self.fold, "n_folds": self.n_folds,
                   "best": {"epoch": state["best_epoch"], **state["best_metrics"]}})
        return {"best_state": state["best_state"], "best_epoch": state["best_epoch"],
                "best_metrics": state["best_metrics"], "history": state["history"], "epochs_run": state["epoch"]}
