"""What differs between task kinds: the loss of a batch and the validation metrics.

Why a small adapter and not subclasses of the trainer: the loop (:mod:`core.training.trainer`) is the same for
every kind; classification needs (weighted) cross-entropy and AUC / accuracy, segmentation α·BCE + (1−α)·Dice
and Dice, the multitask net both (the preterm joint loss), instance segmentation (:class:`InstanceAdapter`)
Mask R-CNN's own loss dict and the paper's mask mAP@0.5. An adapter gives the trainer ``train_loss(net,
batch)``, ``predict(model, loader, device=, autocast=)`` and ``metrics(pred)``.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from core.evaluation.instance import evaluate_instances
from core.models.instance import outputs_to_instances
from core.training.losses import bce_dice_loss, joint_loss, split_outputs, weighted_class_loss
from core.training.trainer import dense_predict


def dice_score(pred: np.ndarray, truth: np.ndarray) -> float:
    """2|A∩B| / (|A|+|B|) of two boolean masks; 1.0 when both are empty (nothing to find, nothing found)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    denom = int(pred.sum()) + int(truth.sum())
    return 1.0 if denom == 0 else 2.0 * int(np.logical_and(pred, truth).sum()) / denom


def iou_score(pred: np.ndarray, truth: np.ndarray) -> float:
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    union = int(np.logical_or(pred, truth).sum())
    return 1.0 if union == 0 else int(np.logical_and(pred, truth).sum()) / union


def auc_or_nan(truth: np.ndarray, probs: np.ndarray) -> float:
    """ROC AUC (binary: positive column 1; multi-class: macro one-vs-rest); NaN when a class is missing."""
    from sklearn.metrics import roc_auc_score

    truth = np.asarray(truth)
    k = probs.shape[1]
    present = np.unique(truth)
    if len(present) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if k == 2:
                return float(roc_auc_score(truth, probs[:, 1]))
            if len(present) < k:
                cols = present.astype(int)
                p = probs[:, cols] / np.clip(probs[:, cols].sum(1, keepdims=True), 1e-12, None)
                lab = np.searchsorted(cols, truth)
                return float(roc_auc_score(lab, p, multi_class="ovr", average="macro")) if len(cols) > 2 else \
                    float(roc_auc_score(lab, p[:, 1]))
            return float(roc_auc_score(truth, probs, multi_class="ovr", average="macro"))
        except ValueError:
            return float("nan")


@dataclass
class Adapter:
    """``kind``: classification | segmentation | multitask. ``targets`` (class per sample) and ``masks``
    (N, S, S uint8) are the whole dataset's, indexed by the sample index carried in each batch."""

    kind: str
    targets: np.ndarray | None = None
    masks: np.ndarray | None = None
    class_weight: torch.Tensor | None = None
    alpha: float = 0.5
    beta: float = 0.8

    def loss(self, outputs, batch) -> torch.Tensor:
        seg, cls = split_outputs(outputs)
        if self.kind == "classification":
            return weighted_class_loss(cls, batch["target"], weight=self.class_weight)
        if self.kind == "segmentation":
            return bce_dice_loss(seg, batch["mask"], alpha=self.alpha)
        return joint_loss(seg, batch["mask"], cls, batch["target"], alpha=self.alpha, beta=self.beta,
                          weight=self.class_weight)

    def train_loss(self, net, batch) -> torch.Tensor:
        return self.loss(net(batch["image"]), batch)

    def predict(self, model, loader, *, device, autocast) -> dict:
        return dense_predict(model, loader, self.loss, device=device, autocast=autocast)

    def metrics(self, pred: dict) -> dict:
        out = {}
        idx = pred["indices"]
        if pred.get("probs") is not None and self.targets is not None:
            truth = self.targets[idx]
            probs = pred["probs"]
            out["val_accuracy"] = float(np.mean(probs.argmax(1) == truth)) if len(truth) else math.nan
            out["val_auc"] = auc_or_nan(truth, probs)
        if pred.get("seg") is not None and self.masks is not None:
            dices = [dice_score(p >= 0.5, self.masks[i] > 0) for p, i in zip(pred["seg"], idx)]
            out["val_dice"] = float(np.mean(dices)) if dices else math.nan
        return out


@dataclass
class InstanceAdapter:
    """Mask R-CNN (torchvision detection models): in training mode the model computes its own losses and
    returns them as a dict (RPN objectness and boxes, classifier, box regression, mask), which the adapter
    sums; in eval mode it returns detections, which the adapter scores with the first-trimester paper's
    metrics (:func:`core.evaluation.instance.evaluate_instances`). ``samples`` are the whole run's
    :class:`core.training.instance_data.InstanceSample` list, indexed by the index carried in each batch.
    There is no validation loss (eval mode gives none): ``loss`` is NaN, validation monitors mask mAP@0.5.
    """

    samples: list
    structures: tuple
    views: dict | None = None
    score_threshold: float = 0.3
    kind: str = "instance"

    def train_loss(self, net, batch) -> torch.Tensor:
        return sum(net(batch["images"], batch["targets"]).values())

    @torch.no_grad()
    def predict(self, model, loader, *, device, autocast) -> dict:
        """Detections one image at a time (batch 1, as a scanner delivers frames), in fp32, with the FPS."""
        model.eval()
        indices, found, seconds = [], [], 0.0
        for batch in loader:
            for index, image in zip(batch["index"].tolist(), batch["images"]):
                start = time.perf_counter()
                out = model([image.to(device)])[0]
                seconds += time.perf_counter() - start
                indices.append(index)
                found.append(outputs_to_instances(out, self.structures, score_threshold=self.score_threshold))
        return {"loss": math.nan, "indices": np.asarray(indices, dtype=np.int64), "instances": found,
                "fps": len(found) / seconds if seconds > 0 and found else math.nan}

    def evaluate(self, pred: dict) -> dict:
        """The paper's metrics of ``pred``: mask_map50, box_map50, view_accuracy (the views named in the
        manifest's label column when every image has one), the per-structure table, and ``fps``."""
        samples = [self.samples[i] for i in pred["indices"]]
        truths = [{"labels": s.labels, "masks": s.masks} for s in samples]
        true_views = [s.view for s in samples] if self.views and all(s.view in self.views for s in samples) \
            else None
        result = evaluate_instances(truths, pred["instances"], structures=self.structures,
                                    views=self.views or None, true_views=true_views)
        result["fps"] = pred["fps"]
        return result

    def metrics(self, pred: dict) -> dict:
        if not len(pred["indices"]):
            return {"val_mask_map50": math.nan, "val_box_map50": math.nan}
        result = self.evaluate(pred)
        return {"val_mask_map50": result["mask_map50"], "val_box_map50": result["box_map50"]}
