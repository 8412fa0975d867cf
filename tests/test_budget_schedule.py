"""Budgeted training: the cosine follows the wall clock, and bf16 precision is a checked recipe choice."""

import time

import pytest
import torch

from core.errors import InputError
from core.training.schedule import budget_lambda, build_scheduler
from core.training.trainer import FitConfig, Trainer, cpu_bf16_native


def test_budget_cosine_follows_the_clock_not_the_steps():
    now = [100.0]
    f = budget_lambda(start=100.0, deadline=200.0, schedule="cosine", clock=lambda: now[0])
    assert f(0) == pytest.approx(1.0)
    now[0] = 150.0
    assert f(0) == pytest.approx(0.5) and f(10_000) == pytest.approx(0.5)   # the step count is irrelevant
    now[0] = 175.0
    assert f(3) == pytest.approx(0.5 * (1 + torch.cos(torch.tensor(0.75 * torch.pi)).item()))
    now[0] = 400.0
    assert f(3) == pytest.approx(0.0)


def test_budget_constant_stays_one_and_bad_schedule_is_refused():
    assert budget_lambda(start=0.0, deadline=1.0, schedule="constant", clock=lambda: 0.7)(5) == 1.0
    with pytest.raises(InputError, match="schedule 'linear'"):
        budget_lambda(start=0.0, deadline=1.0, schedule="linear")


def test_build_scheduler_with_budget_sets_the_rate_from_elapsed_time():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = build_scheduler(opt, epochs=1, steps_per_epoch=1, warmup_epochs=0, schedule="cosine",
                            budget=(time.time(), time.time() + 1e9))   # a budget barely started: full rate
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1, rel=1e-6)


def test_precision_is_checked_and_bf16_autocast_only_where_native():
    with pytest.raises(InputError, match="precision 'fp8'"):
        FitConfig(epochs=1, precision="fp8")
    model = torch.nn.Conv2d(1, 1, 3)
    t = Trainer(model, loss_fn=lambda out, batch: out.sum(), metrics_fn=lambda pred: {}, config=FitConfig(epochs=1, precision="bf16"),
                device=torch.device("cpu"))
    assert t.cpu_bf16 == cpu_bf16_native()
    with t._autocast():
        y = model(torch.zeros(1, 1, 5, 5))
    assert y.dtype == (torch.bfloat16 if cpu_bf16_native() else torch.float32)
    fp32 = Trainer(model, loss_fn=lambda out, batch: out.sum(), metrics_fn=lambda pred: {}, config=FitConfig(epochs=1), device=torch.device("cpu"))
    with fp32._autocast():
        assert model(torch.zeros(1, 1, 5, 5)).dtype == torch.float32
