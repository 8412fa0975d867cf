"""FCN-ResNet50 and DeepLabV3-ResNet50 from torchvision, as binary segmenters on grey images.

Why these two: the preterm study compared U-Net with exactly them (test IoU 0.913 vs 0.755 / 0.756), and users
must be able to repeat that comparison. torchvision returns an ``OrderedDict(out=...)``; we unwrap it so every
segmentation architecture in the registry returns the same thing: mask logits ``(N, num_classes, H, W)`` at the
input size. The ResNet50 backbone can start from cached ImageNet weights (kept under ``net.backbone.``).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import ResNet50_Weights
from torchvision.models import segmentation as tvseg

from core.models.registry import register_model
from core.models.weights import conv_with_in_channels


class TorchvisionSegmenter(nn.Module):
    """A torchvision segmentation model with ``in_channels`` inputs, returning the ``out`` logits tensor."""

    def __init__(self, factory, *, num_classes: int, in_channels: int):
        super().__init__()
        self.net = factory(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)
        self.net.backbone.conv1 = conv_with_in_channels(self.net.backbone.conv1, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["out"]


@register_model("fcn_resnet50", kind="segmentation", weights=ResNet50_Weights, weights_prefix="net.backbone.",
                cam_layer="net.backbone.layer4")
def fcn_resnet50(*, num_classes: int = 1, in_channels: int = 1) -> nn.Module:
    """FCN with a ResNet50 backbone (torchvision); backbone ImageNet-initialisable."""
    return TorchvisionSegmenter(tvseg.fcn_resnet50, num_classes=num_classes, in_channels=in_channels)


@register_model("deeplabv3_resnet50", kind="segmentation", weights=ResNet50_Weights,
                weights_prefix="net.backbone.", cam_layer="net.backbone.layer4")
def deeplabv3_resnet50(*, num_classes: int = 1, in_channels: int = 1) -> nn.Module:
    """DeepLabV3 with a ResNet50 backbone (torchvision); backbone ImageNet-initialisable."""
    return TorchvisionSegmenter(tvseg.deeplabv3_resnet50, num_classes=num_classes, in_channels=in_channels)
