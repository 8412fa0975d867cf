"""ImageNet initialisation from the local torch hub cache only, and first-conv channel adaptation.

Why: the papers start from ImageNet weights, but SonoDash runs where there is no internet and must never
download at run time. torchvision's weights API names the file (``weights.url``); if that file is already in
``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME`` redirects it) we load it with ``weights_only=True``,
otherwise the network trains from scratch and the bundle records ``pretrained: false``.

Ultrasound is grey: for a 1-channel network the pretrained RGB filters of the first convolution are summed
over the colour axis, which gives the same response to a grey image replicated to RGB.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from core.errors import InputError

_IMAGENET_ALIASES = {"imagenet", "default", "pretrained", "true"}
_SCRATCH_ALIASES = {"none", "scratch", "false", ""}


def adapt_conv_weight(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Pretrained conv filters ``(out, c, kh, kw)`` re-shaped for ``in_channels`` inputs.

    1 channel: sum over colour (exact for grey replicated to RGB). Other counts: the mean filter
    repeated and rescaled so the summed response stays the same.
    """
    c = weight.shape[1]
    if in_channels == c:
        return weight.clone()
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    mean = weight.mean(dim=1, keepdim=True)
    return mean.repeat(1, in_channels, 1, 1) * (c / in_channels)


def conv_with_in_channels(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A fresh copy of ``conv`` (same geometry, new random init) taking ``in_channels`` inputs."""
    if conv.in_channels == in_channels:
        return conv
    return nn.Conv2d(in_channels, conv.out_channels, kernel_size=conv.kernel_size, stride=conv.stride,
                     padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                     bias=conv.bias is not None, padding_mode=conv.padding_mode)


def cached_weights_path(weights) -> Path:
    """Where torch hub keeps the file of a torchvision ``WeightsEnum`` entry (it may not exist)."""
    filename = os.path.basename(urlparse(weights.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def resolve_weights(spec, weights):
    """The torchvision weights entry ``weights`` asks for, or None for training from scratch."""
    if weights is None or weights is False:
        return None
    if isinstance(weights, str) and weights.strip().lower() in _SCRATCH_ALIASES:
        return None
    enum_cls = spec.weights
    if enum_cls is None:
        return "unavailable"
    if weights is True or (isinstance(weights, str) and weights.strip().lower() in _IMAGENET_ALIASES):
        return enum_cls.DEFAULT
    if isinstance(weights, enum_cls):
        return weights
    if isinstance(weights, str):
        entry = weights.split(".")[-1]
        if weights.count(".") <= 1 and (weights.count(".") == 0 or weights.split(".")[0] == enum_cls.__name__):
            try:
                return enum_cls[entry]
            except KeyError:
                pass
    choices = ", ".join(["imagenet"] + [f"{enum_cls.__name__}.{w.name}" for w in enum_cls])
    raise InputError(f"architecture {spec.name!r}: unknown weights {weights!r}; choose one of: {choices}")


def transfer_state(model: nn.Module, source: dict, *, prefix: str = "") -> dict:
    """Copy every tensor of ``source`` whose name (under ``prefix``) and shape fit ``model``.

    First-conv style tensors whose shapes differ only in the input-channel axis are adapted with
    :func:`adapt_conv_weight`; everything else that does not fit (the ImageNet classifier head) is left at
    its random init. Returns counts so the caller can see that the backbone really loaded.
    """
    target = model.state_dict()
    loaded, adapted, skipped = 0, 0, []
    new_state = {}
    for key, value in source.items():
        name = prefix + key
        if name not in target:
            skipped.append(key)
            continue
        want = target[name]
        if want.shape == value.shape:
            new_state[name] = value
            loaded += 1
        elif (value.ndim == 4 and want.ndim == 4 and want.shape[0] == value.shape[0]
              and want.shape[2:] == value.shape[2:]):
            new_state[name] = adapt_conv_weight(value, want.shape[1])
            adapted += 1
        else:
            skipped.append(key)
    model.load_state_dict(new_state, strict=False)
    return {"loaded": loaded, "adapted": adapted, "skipped": skipped}


def apply_pretrained(model: nn.Module, spec, weights) -> dict:
    """Initialise ``model`` from cached ImageNet weights when asked for and present; report what happened."""
    entry = resolve_weights(spec, weights)
    if entry is None:
        return {"pretrained": False, "weights": None}
    if entry == "unavailable":
        warnings.warn(f"{spec.name}: no ImageNet weights exist for this architecture; training from scratch",
                      stacklevel=3)
        return {"pretrained": False, "weights": None}
    name = f"{type(entry).__name__}.{entry.name}"
    path = cached_weights_path(entry)
    if not path.is_file():
        warnings.warn(f"{spec.name}: {name} not in the local torch cache ({path}); nothing is downloaded, "
                      f"training from scratch", stacklevel=3)
        return {"pretrained": False, "weights": None, "weights_missing": name}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - a corrupt cache file is the user's environment, not our bug
        raise InputError(f"{path}: cannot read cached weights {name} ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict):
        raise InputError(f"{path}: cached weights {name} are not a state dict")
    report = transfer_state(model, state, prefix=spec.weights_prefix)
    if report["loaded"] == 0:
        raise InputError(f"{path}: cached weights {name} do not fit {spec.name} (no tensor matched)")
    return {"pretrained": True, "weights": name}
