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
import time

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


def budget_lambda(*, start: float, deadline: float, schedule: str = "constant", clock=time.time):
    """The cosine over a wall-clock budget (bench-real): the multiplier follows the fraction of the time from
    ``start`` to ``deadline`` already spent, so the rate anneals to ~0 when the budget ends, however many steps
    the machine manages. "constant" stays at 1.

    >>> now = [0.0]; f = budget_lambda(start=0.0, deadline=10.0, schedule="cosine", clock=lambda: now[0])
    >>> [round((now.__setitem__(0, t), f(0))[1], 3) for t in (0.0, 5.0, 10.0, 12.0)]
    [1.0, 0.5, 0.0, 0.0]
    """
    if schedule not in ("constant", "cosine"):
        raise InputError(f"schedule {schedule!r}; choose constant or cosine")
    span = max(float(deadline) - float(start), 1e-9)

    def f(step: int) -> float:
        if schedule == "constant":
            return 1.0
        progress = min(max((clock() - start) / span, 0.0), 1.0)
        return 0.5 * (1 + math.cos(math.pi * progress))

    return f


def build_scheduler(optimizer, *, epochs: int, steps_per_epoch: int, warmup_epochs: int, schedule: str,
                    budget: tuple[float, float] | None = None):
    """Per-step schedule over ``epochs``; with ``budget`` = (start, deadline) in time.time() seconds, over the
    wall-clock budget instead (a budgeted run does not know its number of epochs in advance)."""
    if budget is not None:
        f = budget_lambda(start=budget[0], deadline=budget[1], schedule=schedule)
    else:
        f = lr_lambda(total_steps=epochs * steps_per_epoch, warmup_steps=warmup_epochs * steps_per_epoch,
                      schedule=schedule)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, f)
