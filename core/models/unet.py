"""U-Net for segmentation, and the preterm study's U-Net with a classification branch.

Built like segmentation_models.pytorch: an :class:`UNetEncoder` (contracting path), a :class:`UNetDecoder`
(expanding path with skip connections), a segmentation head and an optional classification head fed by the
bottleneck features; ``forward`` and ``predict`` are written once in :class:`UNet`.

Output convention (documented here, relied on by the trainer, the predictor and Grad-CAM):

* ``unet`` (segmentation): ``forward(x)`` returns the mask logits tensor ``(N, num_classes, H, W)``.
* ``unet_cls`` (multitask): ``forward(x)`` returns a dict
  ``{"mask_logits": (N, 1, H, W), "class_logits": (N, num_classes)}``.

Any input size works (the decoder resizes to the skip connection when a pooled size was odd).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.models.registry import register_model


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; the gradient flowing back is multiplied by ``scale`` (0: the input is detached)."""

    @staticmethod
    def forward(ctx, x, scale: float):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` unchanged, with the gradient that reaches it through this path scaled by ``scale``."""
    if scale == 1.0:
        return x
    return x.detach() if scale == 0.0 else _ScaleGradient.apply(x, float(scale))


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNetEncoder(nn.Module):
    """Contracting path: ``depth`` poolings; returns the features of every level, bottleneck last."""

    def __init__(self, *, in_channels: int, width: int, depth: int):
        super().__init__()
        self.channels = [width * 2 ** i for i in range(depth + 1)]
        self.stem = _double_conv(in_channels, self.channels[0])
        self.downs = nn.ModuleList(_double_conv(a, b) for a, b in zip(self.channels[:-1], self.channels[1:]))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.stem(x)]
        for down in self.downs:
            feats.append(down(F.max_pool2d(feats[-1], 2, ceil_mode=True)))
        return feats


class UNetDecoder(nn.Module):
    """Expanding path: transposed-conv upsampling, concatenation with the skip, double conv."""

    def __init__(self, *, encoder_channels: list[int]):
        super().__init__()
        rev = encoder_channels[::-1]
        self.ups = nn.ModuleList(nn.ConvTranspose2d(a, b, 2, stride=2) for a, b in zip(rev[:-1], rev[1:]))
        self.blocks = nn.ModuleList(_double_conv(2 * b, b) for b in rev[1:])
        self.out_channels = encoder_channels[0]

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = feats[-1]
        for up, block, skip in zip(self.ups, self.blocks, feats[-2::-1]):
            x = up(x)
            if x.shape[-2:] != skip.shape[-2:]:
                x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([skip, x], dim=1))
        return x


class ClassificationHead(nn.Sequential):
    """Bottleneck features -> global average pool -> fully connected layers -> class logits."""

    def __init__(self, *, in_channels: int, num_classes: int, hidden: int = 128, dropout: float = 0.3):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, hidden), nn.ReLU(inplace=True),
                         nn.Dropout(dropout), nn.Linear(hidden, num_classes))


class UNet(nn.Module):
    """Encoder / decoder / heads. With ``num_classes_cls`` set, a classification head reads the bottleneck."""

    def __init__(self, *, in_channels: int = 1, mask_channels: int = 1, width: int = 32, depth: int = 4,
                 num_classes_cls: int | None = None, cls_hidden: int = 128, cls_dropout: float = 0.3,
                 cls_encoder_grad: float = 1.0):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
        if not 0.0 <= cls_encoder_grad <= 1.0:
            raise ValueError(f"cls_encoder_grad must lie in [0, 1], got {cls_encoder_grad}")
        self.cls_encoder_grad = float(cls_encoder_grad)
        self.encoder = UNetEncoder(in_channels=in_channels, width=width, depth=depth)
        self.decoder = UNetDecoder(encoder_channels=self.encoder.channels)
        self.segmentation_head = nn.Conv2d(self.decoder.out_channels, mask_channels, 1)
        self.classification_head = None
        if num_classes_cls is not None:
            self.classification_head = ClassificationHead(in_channels=self.encoder.channels[-1],
                                                          num_classes=num_classes_cls, hidden=cls_hidden,
                                                          dropout=cls_dropout)

    def forward(self, x: torch.Tensor):
        feats = self.encoder(x)
        mask_logits = self.segmentation_head(self.decoder(feats))
        if self.classification_head is None:
            return mask_logits
        bottleneck = scale_gradient(feats[-1], self.cls_encoder_grad)
        return {"mask_logits": mask_logits, "class_logits": self.classification_head(bottleneck)}

    @torch.inference_mode()
    def predict(self, x: torch.Tensor):
        """Inference: eval mode, no autograd; same outputs as :meth:`forward`."""
        if self.training:
            self.eval()
        return self.forward(x)


@register_model("unet", kind="segmentation", cam_layer=lambda m: m.decoder.blocks[-1])
def unet(*, num_classes: int = 1, in_channels: int = 1, width: int = 32, depth: int = 4) -> nn.Module:
    """U-Net for binary (num_classes=1) or multi-channel segmentation; width and depth configurable."""
    return UNet(in_channels=in_channels, mask_channels=num_classes, width=width, depth=depth)


@register_model("unet_cls", kind="multitask", cam_layer=lambda m: m.encoder.downs[-1])
def unet_cls(*, num_classes: int, in_channels: int = 1, width: int = 32, depth: int = 4, cls_hidden: int = 128,
             cls_dropout: float = 0.3, cls_encoder_grad: float = 1.0) -> nn.Module:
    """U-Net whose contracting-path features feed fully connected layers (preterm study's multitask net).

    ``cls_encoder_grad``: the share of the classification loss's gradient that reaches the shared encoder
    (1: joint training as in the paper; 0: the head reads features the segmentation alone shaped).
    """
    return UNet(in_channels=in_channels, mask_channels=1, width=width, depth=depth, num_classes_cls=num_classes,
                cls_hidden=cls_hidden, cls_dropout=cls_dropout, cls_encoder_grad=cls_encoder_grad)
