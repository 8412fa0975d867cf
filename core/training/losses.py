"""Losses of the studies: weighted cross-entropy, α·BCE + (1−α)·soft Dice, and the preterm joint loss.

Why these exact forms: they are the papers' (DESIGN.md section 1). Class weights w_i = N / (K·n_i) (the CNS
paper's formula) make a rare class count as much in the loss as a common one; the preterm paper's joint loss
is L = L_seg + β·weighted BCE with L_seg = α·BCE + (1−α)·Dice (α = 0.5, β = 0.8).

Model outputs come in several shapes (class logits (B, K), mask logits (B, 1, H, W), a torchvision
``{"out": ...}`` dict, ``{"mask_logits", "class_logits"}`` from the multitask U-Net); :func:`split_outputs`
turns each into ``(seg_logit, class_logits)`` so the losses are written once.

>>> [round(w, 4) for w in class_weights([0, 0, 0, 1], num_classes=2).tolist()]
[0.6667, 2.0]
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def class_weights(targets: Sequence[int], *, num_classes: int) -> torch.Tensor:
    """w_i = N / (K · n_i); a class absent from ``targets`` gets weight 0 (it cannot contribute anyway)."""
    t = torch.as_tensor(list(targets), dtype=torch.long)
    counts = torch.bincount(t, minlength=num_classes).to(torch.float64)
    n = float(len(t))
    w = torch.where(counts > 0, n / (num_classes * counts.clamp(min=1)), torch.zeros_like(counts))
    return w.to(torch.float32)


def _binary_logit(logits: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) or (B, 2, H, W) mask logits -> (B, H, W) logit of the structure.

    For two channels the softmax probability of channel 1 equals sigmoid(l1 - l0), so one binary loss covers
    both conventions.
    """
    if logits.ndim == 4 and logits.shape[1] == 2:
        return logits[:, 1] - logits[:, 0]
    if logits.ndim == 4 and logits.shape[1] == 1:
        return logits[:, 0]
    if logits.ndim == 3:
        return logits
    raise ValueError(f"mask logits of shape {tuple(logits.shape)}; expected (B, 1|2, H, W)")


def split_outputs(outputs):
    """``(seg_logit (B,H,W) or None, class_logits (B,K) or None)`` from any of the model output shapes."""
    if isinstance(outputs, dict):
        if "out" in outputs:
            return _binary_logit(outputs["out"]), None
        seg = outputs.get("mask_logits", outputs.get("mask"))
        cls = outputs.get("class_logits", outputs.get("logits"))
        return (None if seg is None else _binary_logit(seg)), cls
    if isinstance(outputs, (tuple, list)):
        seg, cls = outputs[0], outputs[1]
        return _binary_logit(seg), cls
    if outputs.ndim == 4:
        return _binary_logit(outputs), None
    return None, outputs


def soft_dice_loss(seg_logit: torch.Tensor, target: torch.Tensor, *, eps: float = 1.0) -> torch.Tensor:
    """1 − soft Dice per image (sigmoid probabilities), averaged over the batch."""
    p = torch.sigmoid(seg_logit.float()).flatten(1)
    t = target.float().flatten(1)
    inter = (p * t).sum(1)
    dice = (2 * inter + eps) / (p.sum(1) + t.sum(1) + eps)
    return (1 - dice).mean()


def bce_dice_loss(seg_logit: torch.Tensor, target: torch.Tensor, *, alpha: float = 0.5) -> torch.Tensor:
    """L_seg = α·BCE + (1−α)·soft Dice."""
    bce = F.binary_cross_entropy_with_logits(seg_logit.float(), target.float())
    return alpha * bce + (1 - alpha) * soft_dice_loss(seg_logit, target)


def weighted_class_loss(class_logits: torch.Tensor, target: torch.Tensor, *,
                        weight: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted BCE for one logit (the positive class), weighted cross-entropy for K logits."""
    class_logits = class_logits.float()
    if class_logits.ndim == 2 and class_logits.shape[1] == 1:
        class_logits = class_logits[:, 0]
    if class_logits.ndim == 1:
        sample_w = None if weight is None else weight.to(class_logits.device)[target]
        return F.binary_cross_entropy_with_logits(class_logits, target.float(), weight=sample_w)
    w = None if weight is None else weight.to(class_logits.device)
    return F.cross_entropy(class_logits, target, weight=w)


def joint_loss(seg_logit, mask, class_logits, target, *, alpha: float = 0.5, beta: float = 0.8,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """The preterm paper's L = α·BCE + (1−α)·Dice + β·weighted BCE."""
    return bce_dice_loss(seg_logit, mask, alpha=alpha) + beta * weighted_class_loss(class_logits, target,
                                                                                    weight=weight)


def class_probabilities(class_logits: torch.Tensor) -> torch.Tensor:
    """(B, K) probabilities; one logit becomes the two columns [1 − p, p]."""
    class_logits = class_logits.float()
    if class_logits.ndim == 1 or class_logits.shape[1] == 1:
        p = torch.sigmoid(class_logits.reshape(-1))
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(class_logits, dim=1)
