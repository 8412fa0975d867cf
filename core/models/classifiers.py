"""Image classifiers: the studies' VGG19 and ResNet34, compact ResNet18 / MobileNetV3-Small, and a tiny CNN.

Why torchvision's networks: the papers used exactly these, and torchvision's implementations are the
reference. We only change the two ends: the first convolution takes ``in_channels`` (grey ultrasound is 1)
and the last layer has ``num_classes`` outputs. Each builder returns logits ``(N, num_classes)``.
``smallcnn`` exists for demos and tests that must train in seconds on a laptop CPU.
"""

from __future__ import annotations

from torch import nn
from torchvision import models as tvm

from core.models.registry import register_model
from core.models.weights import conv_with_in_channels


@register_model("vgg19", kind="classification", weights=tvm.VGG19_Weights, cam_layer="features.34")
def vgg19(*, num_classes: int, in_channels: int = 1, dropout: float = 0.5) -> nn.Module:
    """VGG19 (miscarriage study), ImageNet-initialisable."""
    model = tvm.vgg19(num_classes=num_classes, dropout=dropout)
    model.features[0] = conv_with_in_channels(model.features[0], in_channels)
    return model


def _resnet(factory, *, num_classes: int, in_channels: int) -> nn.Module:
    model = factory(num_classes=num_classes)
    model.conv1 = conv_with_in_channels(model.conv1, in_channels)
    return model


@register_model("resnet34", kind="classification", weights=tvm.ResNet34_Weights, cam_layer="layer4")
def resnet34(*, num_classes: int, in_channels: int = 1) -> nn.Module:
    """ResNet34 (CNS study), ImageNet-initialisable."""
    return _resnet(tvm.resnet34, num_classes=num_classes, in_channels=in_channels)


@register_model("resnet18", kind="classification", weights=tvm.ResNet18_Weights, cam_layer="layer4")
def resnet18(*, num_classes: int, in_channels: int = 1) -> nn.Module:
    """ResNet18: compact, CPU-trainable classifier."""
    return _resnet(tvm.resnet18, num_classes=num_classes, in_channels=in_channels)


@register_model("mobilenet_v3_small", kind="classification", weights=tvm.MobileNet_V3_Small_Weights,
                cam_layer="features.12")
def mobilenet_v3_small(*, num_classes: int, in_channels: int = 1, dropout: float = 0.2) -> nn.Module:
    """MobileNetV3-Small: the fastest ImageNet-initialisable classifier."""
    model = tvm.mobilenet_v3_small(num_classes=num_classes, dropout=dropout)
    model.features[0][0] = conv_with_in_channels(model.features[0][0], in_channels)
    return model


class SmallCNN(nn.Module):
    """Four conv-BN-ReLU-pool stages, global average pooling, one linear layer.

    Why: a network that learns the synthetic phantoms in seconds, so demos, tests and the dashboard's
    "train your own" path work on any CPU.
    """

    def __init__(self, *, num_classes: int, in_channels: int = 1, width: int = 16, dropout: float = 0.2):
        super().__init__()
        chans = [in_channels, width, width * 2, width * 4, width * 8]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2, ceil_mode=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(chans[-1], num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)))


@register_model("smallcnn", kind="classification", cam_layer="features.14")
def smallcnn(*, num_classes: int, in_channels: int = 1, width: int = 16, dropout: float = 0.2) -> nn.Module:
    """Tiny CNN for very fast CPU demos and tests (no pretrained weights)."""
    return SmallCNN(num_classes=num_classes, in_channels=in_channels, width=width, dropout=dropout)
