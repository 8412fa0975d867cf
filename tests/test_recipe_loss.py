"""Recipe.loss drives the dense adapters' loss (issue 20 item 2): the named loss when the network's kind can
compute it, the kind's default otherwise, an unknown name refused with a one-line InputError."""

import pytest
import torch

from core.errors import InputError
from core.training.adapters import KIND_DEFAULT_LOSS, Adapter, loss_for
from core.training.losses import bce_dice_loss, joint_loss, split_outputs, weighted_class_loss


def _batch():
    g = torch.Generator().manual_seed(0)
    seg = torch.randn(4, 1, 8, 8, generator=g)
    cls = torch.randn(4, 2, generator=g)
    mask = (torch.rand(4, 8, 8, generator=g) > 0.5).float()
    return (seg, cls), {"mask": mask, "target": torch.tensor([0, 1, 1, 0])}


def test_loss_for_uses_the_named_loss_when_the_kind_can_compute_it():
    assert loss_for("bce_dice", "multitask") == "bce_dice"
    assert loss_for("joint", "multitask") == "joint"
    assert loss_for("bce_dice", "segmentation") == "bce_dice"
    assert loss_for("maskrcnn", "instance") == "maskrcnn"
    # another family's arch: that network's own loss (preterm's joint on a classifier, a study's CE on a U-Net)
    assert loss_for("joint", "classification") == "cross_entropy"
    assert loss_for("cross_entropy", "segmentation") == "bce_dice"
    # the Recipe default every study inherits keeps the joint loss on a multitask net
    assert loss_for("cross_entropy", "multitask") == "joint"
    assert {k: loss_for(None, k) for k in KIND_DEFAULT_LOSS} == KIND_DEFAULT_LOSS


def test_unknown_loss_is_refused_in_one_line():
    with pytest.raises(InputError, match=r"unknown recipe loss 'focal'; choose one of: cross_entropy, ") as err:
        Adapter("classification", loss_name="focal")
    assert "\n" not in str(err.value)


def test_multitask_adapter_computes_the_recipe_loss():
    outputs, batch = _batch()
    seg, cls = split_outputs(outputs)
    mask_only = Adapter("multitask", alpha=0.3, loss_name="bce_dice").loss(outputs, batch)
    torch.testing.assert_close(mask_only, bce_dice_loss(seg, batch["mask"], alpha=0.3))
    joint = Adapter("multitask", alpha=0.3, beta=0.8, loss_name="joint").loss(outputs, batch)
    torch.testing.assert_close(joint, joint_loss(seg, batch["mask"], cls, batch["target"], alpha=0.3, beta=0.8,
                                                 weight=None))
    assert not torch.isclose(mask_only, joint)      # the name changes what is trained, not only a label
    plain = Adapter("classification", loss_name="cross_entropy").loss(cls, batch)
    torch.testing.assert_close(plain, weighted_class_loss(cls, batch["target"], weight=None))
