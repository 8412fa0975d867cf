"""Learning-rate schedule and optimiser from a task recipe.

Why per step and not per epoch: the CNS recipe warms up linearly over the first epoch; with a per-epoch
scheduler that would be one jump. The multiplier rises linearly from 1/warm-up-steps to 1 over
``warmup_epochs`` epochs, then follows a half cosine to 0 (``schedule="cosine"``) or stays at 1 ("constant").

>>> f = lr_lambda(total_steps=10, warmup_steps=2, schedule="cosine")
>>> [round(f(s), 3) for s in (0, 1, 2, 6, 9)]
[0.5, 1.0, 1.0, 0.5, 0.038]
"""

from __future__ import annotations

import math

import torch

from core.errors import InputError


def lr_lambda(*, total_steps: int, warmup_steps: int, schedule: str = "constant"):
    if schedule not in ("constant", "cosine"):
        raise InputError(f"schedule {schedule!r}; choose constant or cosine")
    total_steps = max(int(total_steps), 1)
    warmup_steps = max(min(int(warmup_steps), total_steps), 0)

    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        span = max(total_steps - warmup_steps, 1)
        progress = min((step - warmup_steps) / span, 1.0)
        return 0.5 * (1 + math.cos(math.pi * progress))

    return f


def build_optimizer(params, *, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    name = name.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=0.9)
    raise InputError(f"optimizer {name!r}; choose adam, adamw or sgd")


def build_scheduler(optimizer, *, epochs: int, steps_per_epoch: int, warmup_epochs: int, schedule: str):
    f = lr_lambda(total_steps=epochs * steps_per_epoch, warmup_steps=warmup_epochs * steps_per_epoch,
                  schedule=schedule)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, f)
