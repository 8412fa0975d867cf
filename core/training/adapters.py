"""What differs between task kinds: the loss of a batch and the validation metrics.

Why a small adapter and not subclasses of the trainer: the loop (:mod:`core.training.trainer`) is the same for
every kind; classification needs (weighted) cross-entropy and AUC / accuracy, segmentation α·BCE + (1−α)·Dice
and Dice, the multitask net both (the preterm joint loss), instance segmentation (:class:`InstanceAdapter`)
Mask R-CNN's own loss dict and the paper's mask mAP@0.5. An adapter gives the trainer ``train_loss(net,
batch)``, ``predict(model, loader, device=, autocast=)`` and ``metrics(pred)``.

Why no metric code here: validation Dice is :func:`core.segmentation.metrics.dice` and validation AUC is
:func:`core.training.metrics.probability_auc` (core.evaluation), the functions held-out cases and stored
evaluations are scored with, so the number that picks the best epoch means what the report's number means.
A validation case whose truth and prediction are both empty has NaN Dice (the package's empty-mask convention)
and is left out of ``val_dice`` (``np.nanmean``); ``val_auc`` is NaN when the validation set lacks a class.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import InputError
from core.evaluation import UndefinedMetricWarning
from core.evaluation.instance import evaluate_instances
from core.models.instance import outputs_to_instances
from core.segmentation.metrics import dice
from core.training.losses import bce_dice_loss, joint_loss, split_outputs, weighted_class_loss
from core.training.metrics import probability_auc
from core.training.trainer import dense_predict


# Recipe.loss names -> the network kinds that can compute them; the first name of a kind is its default.
# Why a fallback rather than a refusal: the kind is the network's (core.training.run.resolve), so a study
# trained with another family's arch (preterm's "joint" on a plain classifier, a classification study on a
# U-Net) keeps working with that network's own loss, as before; a known loss the network can compute is used
# as named (e.g. "bce_dice" trains only the mask head of a multitask net). Only "cross_entropy", the Recipe
# default every study inherits, is not offered to a multitask net: a study that never chose a loss keeps the
# joint loss there.
LOSS_KINDS = {
    "cross_entropy": ("classification",),
    "bce_dice": ("segmentation", "multitask"),
    "joint": ("multitask",),
    "maskrcnn": ("instance",),      # the detection model's own loss dict (InstanceAdapter)
}
KIND_DEFAULT_LOSS = {"classification": "cross_entropy", "segmentation": "bce_dice", "multitask": "joint",
                     "instance": "maskrcnn"}


def loss_for(name: str | None, kind: str) -> str:
    """The loss a ``kind`` network trains with for the recipe's loss ``name`` (None/"": the kind's default);
    an unknown name is refused with the known ones."""
    if name and name not in LOSS_KINDS:
        raise InputError(f"unknown recipe loss {str(name)[:40]!r}; choose one of: {', '.join(LOSS_KINDS)}")
    return name if name and kind in LOSS_KINDS[name] else KIND_DEFAULT_LOSS[kind]


@dataclass
class Adapter:
    """``kind``: classification | segmentation | multitask. ``targets`` (class per sample) and ``masks``
    (N, S, S uint8) are the whole dataset's, indexed by the sample index carried in each batch.
    ``loss_name``: the recipe's loss (see :func:`loss_for`; None: the kind's default)."""

    kind: str
    targets: np.ndarray | None = None
    masks: np.ndarray | None = None
    class_weight: torch.Tensor | None = None
    alpha: float = 0.5
    beta: float = 0.8
    loss_name: str | None = None

    def __post_init__(self):
        self.loss_name = loss_for(self.loss_name, self.kind)

    def loss(self, outputs, batch) -> torch.Tensor:
        seg, cls = split_outputs(outputs)
        if self.loss_name == "cross_entropy":
            return weighted_class_loss(cls, batch["target"], weight=self.class_weight)
        if self.loss_name == "bce_dice":
            return bce_dice_loss(seg, batch["mask"], alpha=self.alpha)
        return joint_loss(seg, batch["mask"], cls, batch["target"], alpha=self.alpha, beta=self.beta,
                          weight=self.class_weight)

    def train_loss(self, net, batch) -> torch.Tensor:
        return self.loss(net(batch["image"]), batch)

    def predict(self, model, loader, *, device, autocast) -> dict:
        return dense_predict(model, loader, self.loss, device=device, autocast=autocast)

    def metrics(self, pred: dict) -> dict:
        """Validation metrics of one epoch; undefined ones are NaN (recorded as null in the history), their
        warnings not repeated every epoch."""
        out = {}
        idx = pred["indices"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            if pred.get("probs") is not None and self.targets is not None:
                truth = self.targets[idx]
                probs = pred["probs"]
                out["val_accuracy"] = float(np.mean(probs.argmax(1) == truth)) if len(truth) else math.nan
                out["val_auc"] = probability_auc(truth, probs)
            if pred.get("seg") is not None and self.masks is not None:
                dices = np.array([dice(self.masks[i] >= 128, p >= 0.5) for p, i in zip(pred["seg"], idx)], float)
                out["val_dice"] = float(np.nanmean(dices)) if np.isfinite(dices).any() else math.nan
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
