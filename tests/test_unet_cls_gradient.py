"""unet_cls's cls_encoder_grad: the share of the classification gradient that reaches the shared encoder."""

import pytest
import torch

from core.models.unet import scale_gradient, unet_cls


def test_scale_gradient_scales_only_the_backward_pass():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = scale_gradient(x, 0.25)
    assert torch.equal(y, x)
    (y * torch.tensor([4.0, 8.0, -4.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([1.0, 2.0, -1.0]))
    assert scale_gradient(x, 0.0).requires_grad is False and scale_gradient(x, 1.0) is x


def _encoder_grad(share: float) -> float:
    torch.manual_seed(0)
    net = unet_cls(num_classes=2, width=4, depth=2, cls_encoder_grad=share).eval()   # eval: no dropout noise
    out = net(torch.randn(2, 1, 16, 16))
    torch.nn.functional.cross_entropy(out["class_logits"], torch.tensor([0, 1])).backward()
    head = sum(float(p.grad.abs().sum()) for p in net.classification_head.parameters())
    assert head > 0                                          # the head itself always learns
    return sum(float(p.grad.abs().sum()) for p in net.encoder.parameters() if p.grad is not None)


def test_the_classification_loss_reaches_the_encoder_by_its_share():
    full, tenth, none = _encoder_grad(1.0), _encoder_grad(0.1), _encoder_grad(0.0)
    assert full > 0 and none == 0.0
    assert tenth == pytest.approx(0.1 * full, rel=1e-4)


def test_share_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="cls_encoder_grad"):
        unet_cls(num_classes=2, cls_encoder_grad=1.5)


def test_a_bundle_option_out_of_range_is_an_input_error():
    from core.errors import InputError
    from core.models.registry import build_model

    with pytest.raises(InputError, match="architecture 'unet_cls': bad option .*cls_encoder_grad"):
        build_model("unet_cls", num_classes=2, cls_encoder_grad=-1)


def test_the_preterm_recipe_hands_its_share_to_the_multitask_network_only():
    """The recipe's share reaches unet_cls (recorded in the bundle's arch_kwargs through the run settings); the
    same task trained with the plain U-Net (segmentation only) gets no such option."""
    from core.tasks import get_task
    from core.training.run import _settings

    task = get_task("preterm")
    assert task.recipe.cls_encoder_grad == 0.1
    cpu = torch.device("cpu")
    multi = _settings(task, "unet_cls", "multitask", None, 1, 32, 4, 0, cpu)
    assert multi["arch_kwargs"]["cls_encoder_grad"] == 0.1
    assert "cls_encoder_grad" not in _settings(task, "unet", "segmentation", None, 1, 32, 4, 0, cpu)["arch_kwargs"]


def test_a_task_with_a_share_outside_zero_to_one_is_refused():
    import dataclasses

    from core.errors import InputError
    from core.tasks import Task, Recipe, register_task

    bad = Task(name="mt_bad_share", kind="multitask", title="x", labels=("a", "b"),
               recipe=dataclasses.replace(Recipe(), cls_encoder_grad=2.0))
    with pytest.raises(InputError, match="cls_encoder_grad 2.0 must be a number in \\[0, 1\\]"):
        register_task(bad)
