"""Class-activation maps through pytorch-grad-cam (the library owns the hooks; we choose layers and targets).

Why a thin layer over the library: every study showed Grad-CAM, but our networks differ in what ``forward``
returns (logits, mask logits, or a dict for the multitask U-Net) and in which layer is worth hooking. This
module hides both: :func:`compute_cams` takes any registered architecture, picks the registry's target layer,
wraps multitask outputs so the library sees one tensor, and returns maps in ``[0, 1]`` at the network input
size. :func:`road_faithfulness` reports the library's ROAD score (higher = the map points at pixels the
model really uses).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytorch_grad_cam
import torch
from pytorch_grad_cam import ScoreCAM
from pytorch_grad_cam.metrics.road import ROADCombined
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget, SemanticSegmentationTarget
from torch import nn

from core.errors import InputError
from core.explain.methods import CAM_METHOD_CLASSES, canonical_cam_method
from core.models.registry import cam_target_layer

# name -> library class, from the one list in core.explain.methods
CAM_METHODS = {name: getattr(pytorch_grad_cam, cls) for name, cls in CAM_METHOD_CLASSES.items()}
HEADS = ("class", "mask")


class _SelectHead(nn.Module):
    """Expose one output of a multi-output network (the multitask U-Net returns a dict) as a plain tensor."""

    def __init__(self, model: nn.Module, key: str | None):
        super().__init__()
        self.model = model
        self.key = key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if isinstance(out, dict):
            return out[self.key]
        return out


@contextmanager
def _backprop_only_above(model: nn.Module, layer: nn.Module):
    """Let gradients flow only from the output down to ``layer``'s activations.

    Why: a CAM needs d(score)/d(activation) at one layer. Ordinary backward also computes every weight's
    gradient and the gradients below that layer, which triples the cost of a forward pass. With the
    weights frozen and the layer's output made the start of the graph (a forward hook registered before
    the library's own), backward covers only the layers above ``layer``. The weights' flags are restored.
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)

    def start_graph(_module, _inputs, output):
        if isinstance(output, torch.Tensor) and not output.requires_grad:
            # A fresh leaf, cloned so that an in-place op that follows (VGG's ReLU) acts on a non-leaf.
            return output.detach().requires_grad_(True).clone()
        return None

    handle = layer.register_forward_hook(start_graph)
    try:
        yield
    finally:
        handle.remove()
        for p, flag in flags:
            p.requires_grad_(flag)


def cam_method(name: str):
    """The library class for ``name`` (case-insensitive; "gradcampp" is accepted for "gradcam++")."""
    return CAM_METHODS[canonical_cam_method(name)]


def _target_layer(model: nn.Module, arch: str, layer: str | None) -> nn.Module:
    if layer is not None:
        return model.get_submodule(layer)
    found = cam_target_layer(model, arch)
    if found is None:
        raise InputError(f"architecture {arch!r} names no Grad-CAM layer; pass one explicitly")
    return found


def _head_key(model: nn.Module, head: str) -> str | None:
    if head not in HEADS:
        raise InputError(f"unknown explanation head {head!r}; choose one of: {', '.join(HEADS)}")
    kind = getattr(model, "sonodash_build", {}).get("kind")
    if kind == "multitask":
        return "class_logits" if head == "class" else "mask_logits"
    return None


def _targets(wrapped: nn.Module, inputs: torch.Tensor, head: str, target_class):
    """One library target per image: a class logit, or the predicted mask region of a segmentation output."""
    n = inputs.shape[0]
    if head == "class":
        if target_class is None:
            with torch.no_grad():
                target_class = wrapped(inputs).argmax(dim=1).tolist()
        classes = target_class if isinstance(target_class, (list, tuple)) else [int(target_class)] * n
        return [ClassifierOutputTarget(int(c)) for c in classes]
    with torch.no_grad():
        logits = wrapped(inputs)
    masks = (logits[:, 0] > 0).float().cpu().numpy()
    return [SemanticSegmentationTarget(0, m) for m in masks]


def compute_cams(model: nn.Module, inputs: torch.Tensor, *, arch: str, method: str = "gradcam",
                 target_class=None, head: str = "class", layer: str | None = None):
    """Class-activation maps for a batch.

    Parameters
    ----------
    model : the network (any registered architecture; put in eval mode here).
    inputs : ``(N, C, H, W)`` tensor, already preprocessed as the model expects.
    target_class : class index (or one per image); None = the predicted class.
    head : "class" (classifier output) or "mask" (segmentation output; the target is the predicted mask).

    Returns
    -------
    (cams, targets) : ``float32`` array ``(N, H, W)`` in ``[0, 1]`` and the library targets used.
    """
    cls = cam_method(method)
    model.eval()
    wrapped = _SelectHead(model, _head_key(model, head)).eval()
    targets = _targets(wrapped, inputs, head, target_class)
    layer_module = _target_layer(model, arch, layer)
    with _backprop_only_above(wrapped, layer_module), cls(model=wrapped, target_layers=[layer_module]) as cam:
        if isinstance(cam, ScoreCAM):
            cam.batch_size = 32
        maps = cam(input_tensor=inputs, targets=targets)
    maps = np.nan_to_num(np.asarray(maps, dtype=np.float32), nan=0.0)
    return np.clip(maps, 0.0, 1.0), targets


def road_faithfulness(model: nn.Module, inputs: torch.Tensor, cams: np.ndarray, targets, *,
                      head: str = "class", percentiles=(20, 40, 60, 80)) -> np.ndarray:
    """ROAD (Rong et al. 2022) via the library: mean over percentiles of (confidence drop when the least relevant
    pixels are removed) minus (drop when the most relevant are removed), halved. Higher = more faithful."""
    wrapped = _SelectHead(model, _head_key(model, head)).eval()
    metric = ROADCombined(percentiles=list(percentiles))
    scores = metric(inputs, cams, targets, wrapped)
    return np.asarray(scores, dtype=np.float64).reshape(-1)
