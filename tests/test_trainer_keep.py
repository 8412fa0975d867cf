"""Which weights a fold keeps: the best-on-validation epoch, or the final weights of the whole schedule."""

import pytest
import torch

from core.errors import InputError
from core.training.adapters import Adapter
from core.training.trainer import FitConfig, Trainer

VAL_AUC = [0.9, 0.6, 0.5, 0.4, 0.3]     # validation gets worse after the first epoch


def _loader(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    samples = [{"image": torch.randn(1, 8, 8, generator=g), "index": i, "target": i % 2} for i in range(n)]
    return torch.utils.data.DataLoader(samples, batch_size=4, shuffle=False)


def _fit(keep: str, patience: int = 1):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    scripted = iter(VAL_AUC)
    snapshots = {}

    def remember(event):
        if event["event"] == "epoch_end":
            snapshots[event["epoch"]] = {k: v.clone() for k, v in model.state_dict().items()}

    config = FitConfig(epochs=len(VAL_AUC), lr=0.05, monitor="val_auc", patience=patience, keep=keep)
    trainer = Trainer(model, loss_fn=Adapter("classification").loss, config=config, device=torch.device("cpu"),
                      metrics_fn=lambda pred: {"val_auc": next(scripted)}, emit=remember)
    fit = trainer.fit(_loader(12, seed=0), _loader(4, seed=1))
    return fit, snapshots, model


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_best_keeps_the_best_validation_epoch_and_stops_early():
    fit, snaps, model = _fit("best")
    assert fit["best_epoch"] == 0 and fit["epochs_run"] == 2          # patience 1: stopped after epoch 1
    assert fit["best_metrics"]["val_auc"] == pytest.approx(0.9)
    assert _same(fit["best_state"], snaps[0]) and _same(model.state_dict(), snaps[0])
    assert not _same(snaps[0], snaps[1])


def test_last_runs_the_whole_schedule_and_keeps_the_final_weights():
    fit, snaps, model = _fit("last")
    last = len(VAL_AUC) - 1
    assert fit["epochs_run"] == len(VAL_AUC) and fit["best_epoch"] == last
    assert fit["best_metrics"]["val_auc"] == pytest.approx(VAL_AUC[-1])      # recorded, not used to choose
    assert _same(fit["best_state"], snaps[last]) and _same(model.state_dict(), snaps[last])
    assert [h["val_auc"] for h in fit["history"]] == pytest.approx(VAL_AUC)


def test_unknown_keep_is_an_input_error():
    with pytest.raises(InputError, match="keep 'median'; choose best or last"):
        FitConfig(epochs=1, keep="median")


def test_miscarriage_from_scratch_anneals_and_keeps_the_last_weights():
    from core.tasks import get_task

    recipe = get_task("miscarriage").recipe
    assert recipe.keep == "best" and recipe.early_stopping_metric == "val_auc"      # the paper's fine-tuning
    assert {"schedule": "cosine", "warmup_epochs": 1, "keep": "last"}.items() <= recipe.scratch.items()


def _fit_conv(channels_last: bool):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    config = FitConfig(epochs=2, lr=0.05, monitor="val_loss", keep="last", channels_last=channels_last)
    seen = []
    trainer = Trainer(model, loss_fn=Adapter("classification").loss, config=config, device=torch.device("cpu"),
                      emit=lambda e: seen.append(model[2].weight.is_contiguous(memory_format=torch.channels_last)
                                                 and not model[2].weight.is_contiguous()))
    fit = trainer.fit(_loader(12, seed=0), _loader(4, seed=1))
    return {**fit, "seen_channels_last": all(seen[:-1])}, model


def test_channels_last_trains_the_same_weights_and_hands_them_back_contiguous():
    """Channels-last is a memory order, not a different model: the weights match the usual order's run up to
    rounding, and the model and kept state come back contiguous (safetensors refuses strided tensors)."""
    from safetensors.torch import save

    plain, _ = _fit_conv(False)
    fit, model = _fit_conv(True)
    assert fit["seen_channels_last"]
    assert model[2].weight.is_contiguous() and all(v.is_contiguous() for v in fit["best_state"].values())
    for k, v in plain["best_state"].items():
        assert torch.allclose(fit["best_state"][k], v, atol=1e-5), k
    assert save(fit["best_state"])                       # bytes: the bundle format accepts the kept weights
