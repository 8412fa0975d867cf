"""Instance segmentation: torchvision Mask R-CNN, two backbones, and the predictor that runs a bundle.

Why Mask R-CNN: the first-trimester paper's own model (YOLACT) is not in torchvision, and the paper reports
Mask R-CNN as the more accurate of the two (mAP 0.722 vs 0.622); torchvision ships it, so we use it rather
than re-implement a detector. Three variants:

* ``maskrcnn``: ``maskrcnn_resnet50_fpn_v2``, the accurate one (slow on a CPU).
* ``maskrcnn_mobilenet``: a MobileNetV3-Large FPN backbone with small anchors and a 256-pixel working size,
  so a 2-core CPU trains it in minutes and runs it at a few frames per second.
* ``maskrcnn_lite``: MobileNetV3-Small with a 96-channel FPN and narrow box and mask heads (about 2.3 M
  parameters instead of 22 M: the 1024-wide box MLP alone holds 13 M), so that a trained demo bundle fits
  the sample data's size budget and a CPU runs it faster still.

Class ids: 0 is background, structure ``task.structures[i]`` is class ``i + 1``; ``num_classes`` given to the
builders is the number of *structures* (the background class is added here), like every other registry entry
where ``num_classes`` is the number of things the user names. No builder downloads anything: backbones start
from random weights (``weights=None``) or from a local safetensors file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from safetensors.torch import load_file
from torchvision.models import mobilenet_v3_small
from torchvision.models.detection import MaskRCNN, maskrcnn_resnet50_fpn_v2
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN, mobilenet_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.ops import MultiScaleRoIAlign

from core.errors import InputError
from core.models.bundle import load_bundle
from core.models.registry import register_model
from core.models.transforms import normalization_stats

DEFAULT_SCORE_THRESHOLD = 0.3


def _normalization(in_channels: int) -> tuple[tuple, tuple]:
    """Mask R-CNN's own transform normalises with the kernel's ImageNet statistics (grey: channel averages)."""
    if in_channels in (1, 3):
        stats = normalization_stats("imagenet", in_channels=in_channels)
        return tuple(stats["mean"]), tuple(stats["std"])
    raise InputError(f"in_channels={in_channels}: instance models take 1 (gray) or 3 (RGB) channels")


def _check_num_classes(num_classes: int) -> int:
    if int(num_classes) < 1:
        raise InputError(f"num_classes={num_classes}: an instance model needs at least one structure")
    return int(num_classes)


def _load_local_weights(model: nn.Module, weights) -> nn.Module:
    """``weights`` is None (random init) or a local .safetensors file; never a download."""
    if weights is None:
        return model
    path = Path(weights) if isinstance(weights, (str, Path)) else None
    if path is None or path.suffix != ".safetensors" or not path.is_file():
        raise InputError(f"weights={weights!r}: give None or an existing local .safetensors file (no downloads)")
    model.load_state_dict(load_file(str(path)), strict=True)
    return model


def _first_conv_to_gray(parent: nn.Module, attr: str) -> None:
    """Swap a 3-channel stem convolution for a 1-channel one (same geometry), for gray-scale input."""
    old = getattr(parent, attr) if not attr.isdigit() else parent[int(attr)]
    new = nn.Conv2d(1, old.out_channels, old.kernel_size, old.stride, old.padding, bias=old.bias is not None)
    if attr.isdigit():
        parent[int(attr)] = new
    else:
        setattr(parent, attr, new)


def working_size(input_size: int) -> dict:
    """Mask R-CNN's internal resize: shorter side ``input_size``, longer side at most 4:3 of it.

    Recorded in the bundle (arch_kwargs), so the predictor resizes exactly as training did; the trainer and
    the speed benchmark build their models with it.
    """
    size = int(input_size)
    return {"min_size": size, "max_size": (size * 4 + 2) // 3}


@register_model("maskrcnn", kind="instance",
                description="Mask R-CNN, ResNet-50 FPN v2 (torchvision), accurate, slow on CPU")
def maskrcnn(*, num_classes: int, in_channels: int = 3, weights=None, min_size: int = 512,
             max_size: int = 683, **kwargs) -> MaskRCNN:
    """torchvision ``maskrcnn_resnet50_fpn_v2`` from random weights (BatchNorm trainable, all layers)."""
    num_classes = _check_num_classes(num_classes)
    mean, std = _normalization(in_channels)
    model = maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=num_classes + 1,
                                     min_size=min_size, max_size=max_size,
                                     image_mean=list(mean), image_std=list(std), **kwargs)
    if in_channels == 1:
        _first_conv_to_gray(model.backbone.body, "conv1")
    return _load_local_weights(model, weights)


def _mobilenet_fpn(in_channels: int) -> nn.Module:
    """MobileNetV3-Large features with a 256-channel FPN on the first blocks of the last three stages
    (strides 16, 32, 32; plus max-pool), all layers trainable.

    Why all layers train and BatchNorm is plain: with no pretrained weights, torchvision's default frozen
    BatchNorm would be an identity and frozen stages would stay random.
    """
    probe = mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=False,
                               norm_layer=nn.BatchNorm2d, trainable_layers=6)
    n_stages = 1 + sum(1 for b in probe[0] if getattr(b, "_is_cn", False)) + 1
    backbone = mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True,
                                  norm_layer=nn.BatchNorm2d, trainable_layers=n_stages,
                                  returned_layers=[n_stages - 3, n_stages - 2, n_stages - 1])
    if in_channels == 1:
        _first_conv_to_gray(backbone.body["0"], "0")
    return backbone


def _small_fpn(in_channels: int, fpn_channels: int) -> nn.Module:
    """MobileNetV3-Small features with a narrow FPN on the *ends* of the stride 8, 16 and 32 stages.

    Why the stage ends at stride 8: the small network's stride-16 and -32 maps alone are too coarse for
    structures a few tens of pixels wide in a 256-pixel image.
    """
    features = mobilenet_v3_small(weights=None, norm_layer=nn.BatchNorm2d).features
    starts = [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)]
    ends = [s - 1 for s in starts[1:]] + [len(features) - 1]
    picked = ends[-3:]
    backbone = BackboneWithFPN(features, {str(k): str(v) for v, k in enumerate(picked)},
                               [features[k].out_channels for k in picked], fpn_channels,
                               extra_blocks=LastLevelMaxPool())
    if in_channels == 1:
        _first_conv_to_gray(backbone.body["0"], "0")
    return backbone


def _cpu_options(in_channels: int, min_size: int, max_size: int) -> dict:
    """Small anchors (one size per level, 16..128 px), fewer proposals and RoI samples: a short CPU step."""
    mean, std = _normalization(in_channels)
    levels = ["0", "1", "2"]
    return dict(min_size=min_size, max_size=max_size, image_mean=list(mean), image_std=list(std),
                rpn_anchor_generator=AnchorGenerator(sizes=((16,), (32,), (64,), (128,)),
                                                     aspect_ratios=((0.5, 1.0, 2.0),) * 4),
                box_roi_pool=MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=2),
                mask_roi_pool=MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=2),
                rpn_pre_nms_top_n_train=600, rpn_post_nms_top_n_train=300,
                rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=150,
                box_batch_size_per_image=128, box_detections_per_img=50)


@register_model("maskrcnn_mobilenet", kind="instance",
                description="Mask R-CNN, MobileNetV3-Large FPN, 256 px, for CPUs")
def maskrcnn_mobilenet(*, num_classes: int, in_channels: int = 3, weights=None, min_size: int = 256,
                       max_size: int = 342, **kwargs) -> MaskRCNN:
    """Mask R-CNN on a MobileNetV3-Large FPN backbone, sized for CPUs.

    Why these choices: a light backbone, small anchors and few proposals (see :func:`_cpu_options`) keep a
    CPU step short at a 256-pixel working size.
    """
    num_classes = _check_num_classes(num_classes)
    options = {**_cpu_options(in_channels, min_size, max_size), **kwargs}
    model = MaskRCNN(_mobilenet_fpn(in_channels), num_classes=num_classes + 1, **options)
    return _load_local_weights(model, weights)


@register_model("maskrcnn_lite", kind="instance",
                description="Mask R-CNN, MobileNetV3-Small, narrow FPN and heads (2.3 M params), demo size")
def maskrcnn_lite(*, num_classes: int, in_channels: int = 3, weights=None, min_size: int = 256,
                  max_size: int = 342, fpn_channels: int = 96, head_width: int = 128, **kwargs) -> MaskRCNN:
    """Mask R-CNN on MobileNetV3-Small with a ``fpn_channels``-wide FPN (strides 8/16/32), a ``head_width``
    box MLP and a four-layer ``fpn_channels``-wide mask head: about 2.3 M parameters (9 MB), for demo
    bundles in git and faster CPU frames."""
    num_classes = _check_num_classes(num_classes)
    n = num_classes + 1
    c = int(fpn_channels)
    heads = dict(rpn_head=RPNHead(c, 3),
                 box_head=TwoMLPHead(c * 7 * 7, head_width), box_predictor=FastRCNNPredictor(head_width, n),
                 mask_head=MaskRCNNHeads(c, (c,) * 4, 1), mask_predictor=MaskRCNNPredictor(c, c, n))
    options = {**_cpu_options(in_channels, min_size, max_size), **heads, **kwargs}
    model = MaskRCNN(_small_fpn(in_channels, c), num_classes=None, **options)
    return _load_local_weights(model, weights)


# --------------------------------------------------------------------------------------------- prediction
@dataclass
class Instances:
    """Detections of one image at its original size (numpy, ready to draw or score).

    ``labels`` are class ids (1 = first structure); ``names`` the matching structure names.
    """

    boxes: np.ndarray                       # (N, 4) float32 x0, y0, x1, y1
    scores: np.ndarray                      # (N,) float32
    labels: np.ndarray                      # (N,) int64
    masks: np.ndarray                       # (N, H, W) bool
    names: list = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def top_per_structure(self) -> dict:
        """Structure name -> index of its highest-confidence detection (the paper's per-structure rule)."""
        best: dict = {}
        for i in np.argsort(-self.scores, kind="stable"):
            best.setdefault(self.names[i], int(i))
        return best


def to_model_input(image, *, in_channels: int = 3) -> torch.Tensor:
    """HxW or HxWx3 (uint8 or float in [0, 1]) -> float CxHxW tensor in [0, 1] with ``in_channels``."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3)):
        raise InputError(f"image of shape {arr.shape}: expected HxW or HxWx3")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    else:
        arr = np.clip(arr.astype(np.float32), 0.0, 1.0)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if in_channels == 1:
        arr = arr if arr.ndim == 2 else arr.mean(axis=2)
        return torch.from_numpy(np.ascontiguousarray(arr))[None]
    arr = np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def outputs_to_instances(output: dict, structures, *, score_threshold: float = DEFAULT_SCORE_THRESHOLD,
                         mask_threshold: float = 0.5) -> Instances:
    """One torchvision output dict -> :class:`Instances` above the confidence threshold."""
    keep = output["scores"] >= score_threshold
    boxes = output["boxes"][keep].detach().cpu().numpy().astype(np.float32)
    scores = output["scores"][keep].detach().cpu().numpy().astype(np.float32)
    labels = output["labels"][keep].detach().cpu().numpy().astype(np.int64)
    masks = output["masks"][keep]
    masks = (masks[:, 0] >= mask_threshold).cpu().numpy() if masks.numel() else \
        np.zeros((0,) + tuple(output["masks"].shape[-2:]), dtype=bool)
    names = [structures[k - 1] if 0 < k <= len(structures) else f"class_{k}" for k in labels]
    return Instances(boxes=boxes, scores=scores, labels=labels, masks=masks, names=names)


def predict_view(instances: Instances, views: dict) -> str | None:
    """The view category whose detected structures carry the largest summed confidence (None if nothing).

    Why a sum of confidences: a view is recognised by the anatomy it shows, and several confident
    structures of one view outweigh a single stray detection from another.
    """
    totals = {view: 0.0 for view in views}
    owner = {s: view for view, group in views.items() for s in group}
    for name, idx in instances.top_per_structure().items():
        if name in owner:
            totals[owner[name]] += float(instances.scores[idx])
    best = max(totals, key=totals.get) if totals else None
    return best if best is not None and totals[best] > 0 else None


def completeness(instances: Instances, views: dict, *, view: str | None = None) -> dict:
    """The checklist of the view's expected structures: which were detected (best score) and which are missing.

    ``view`` defaults to :func:`predict_view`. Why: the paper's clinical use is checking that a view shows all
    the anatomy it should; the dashboard draws this as a checklist next to the overlay.
    """
    view = view or predict_view(instances, views)
    expected = tuple(views.get(view, ())) if view else ()
    best = {name: float(instances.scores[i]) for name, i in instances.top_per_structure().items()}
    found = {name: best[name] for name in expected if name in best}
    return {"view": view, "expected": list(expected), "found": found,
            "missing": [name for name in expected if name not in best],
            "complete": bool(expected) and len(found) == len(expected)}


class InstancePredictor:
    """Runs an instance bundle on user images (preprocessing comes from the bundle's meta)."""

    def __init__(self, model: nn.Module, meta):
        self.model = model.eval()
        self.meta = meta                    # a core.models.meta.BundleMeta (read-only)
        self.structures = tuple(meta.structures)
        self.views = dict(meta.views)
        self.in_channels = meta.in_channels
        self.score_threshold = (DEFAULT_SCORE_THRESHOLD if meta.score_threshold is None
                                else meta.score_threshold)

    @property
    def class_names(self) -> tuple:
        return self.structures

    @torch.inference_mode()
    def predict_instances(self, images, *, score_threshold: float | None = None) -> list[Instances]:
        """One :class:`Instances` per image (HxW / HxWx3 arrays or LoadedImage: first frame)."""
        thr = self.score_threshold if score_threshold is None else float(score_threshold)
        tensors = [to_model_input(getattr(im, "image", im), in_channels=self.in_channels) for im in images]
        outputs = self.model(tensors) if tensors else []
        return [outputs_to_instances(o, self.structures, score_threshold=thr) for o in outputs]

    def predict_view(self, instances: Instances) -> str | None:
        return predict_view(instances, self.views)


def load_instance_predictor(bundle_dir) -> InstancePredictor:
    """An :class:`InstancePredictor` from a bundle saved by the instance trainer."""
    model, meta = load_bundle(bundle_dir)
    if meta.kind != "instance" or not meta.structures:
        raise InputError(f"{bundle_dir}: not an instance-segmentation bundle (no structures in model.json)")
    return InstancePredictor(model, meta)

