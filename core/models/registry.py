"""One registry for every network SonoDash can build (torchvision's ``models`` style).

Why one registry: the trainer, the bundle loader, the benchmark and the dashboard all turn an architecture
*name* into a network; if each kept its own table they would drift. Families live one per file
(:mod:`core.models.classifiers`, :mod:`core.models.unet`, :mod:`core.models.segnets`, the instance models of
:mod:`core.models.instance`) and register themselves with :func:`register_model`. Nobody keeps a list of them:
the first lookup imports every module of this package whose source applies ``@register_model`` (or calls
``register_model(``), so a new family is one new file. Families found elsewhere (a plugin, a test, a task file
named by ``SONODASH_TASKS``) register the same way when their module is imported. The registry itself imports
no family and no torch, so importing it (a page, ``--help``) stays cheap.

>>> m = build_model("smallcnn", num_classes=2, in_channels=1)
>>> model_kind("unet_cls")
'multitask'
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.errors import InputError
from core.tasks import load_user_tasks

MODEL_KINDS = ("classification", "segmentation", "multitask", "instance")
# A module of this package is a family when a line of it applies or calls register_model (not this file, which
# only defines it, and not a mention in a docstring or comment).
_REGISTERS = re.compile(r"^\s*@?register_model\(", re.MULTILINE)


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one architecture.

    ``builder(*, num_classes, in_channels, **kw) -> nn.Module`` builds a randomly initialised network with the
    final layout (heads sized for ``num_classes``, first conv for ``in_channels``). ``weights`` is the
    torchvision weights enum *class* whose ImageNet entry can initialise it (or None), and
    ``weights_prefix`` the key prefix under which those weights live inside our module (a segmentation
    network keeps its ResNet under ``backbone.``). ``cam_layer`` is the dotted name of the layer Grad-CAM
    should hook by default, or a function ``model -> module``.
    """

    name: str
    builder: Callable
    kind: str
    weights: object = None
    weights_prefix: str = ""
    cam_layer: object = None
    description: str = ""


_REGISTRY: dict[str, ModelSpec] = {}
_loaded = False
_load_lock = threading.RLock()
_loading: set[int] = set()


def register_model(name: str, *, kind: str, weights=None, weights_prefix: str = "", cam_layer=None,
                   description: str = "", replace: bool = False):
    """Decorator registering a builder under ``name``.

    >>> @register_model("my_net", kind="classification")          # doctest: +SKIP
    ... def my_net(*, num_classes, in_channels=1): ...
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {MODEL_KINDS}, got {kind!r}")

    def decorator(builder: Callable) -> Callable:
        if name in _REGISTRY and not replace and _REGISTRY[name].builder is not builder:
            raise ValueError(f"model {name!r} is already registered")
        doc = (builder.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ModelSpec(name=name, builder=builder, kind=kind, weights=weights,
                                    weights_prefix=weights_prefix, cam_layer=cam_layer,
                                    description=description or (doc[0] if doc else ""))
        return builder

    return decorator


def family_modules() -> list[str]:
    """Dotted names of the modules of :mod:`core.models` that register architectures, sorted.

    Found by reading the package's files (nothing is imported here), so adding a family never means editing
    a list. A module that fails to import later is a real bug and raises.
    """
    package = __name__.rpartition(".")[0]
    folder = Path(__file__).resolve().parent
    found = []
    for info in pkgutil.iter_modules([str(folder)]):
        if info.ispkg or info.name.startswith("_") or f"{package}.{info.name}" == __name__:
            continue
        source = (folder / f"{info.name}.py").read_text(encoding="utf-8")
        if _REGISTERS.search(source):
            found.append(f"{package}.{info.name}")
    return sorted(found)


def _ensure_loaded() -> None:
    """Import every family module once. The lock matters: the dashboard runs page scripts in several threads,
    and a second thread must wait for the first one's imports instead of reading a half-filled registry
    (seen: an empty architecture list on the Train page). It is re-entrant because a family module's own
    lookups come back here in the importing thread."""
    global _loaded
    load_user_tasks()                 # a Python task file (SONODASH_TASKS) may add a family of its own
    if _loaded:
        return
    with _load_lock:
        if _loaded or _load_lock_owner_is_loading():
            return
        _loading.add(threading.get_ident())
        try:
            for mod in family_modules():
                importlib.import_module(mod)
            _loaded = True
        finally:
            _loading.discard(threading.get_ident())


def _load_lock_owner_is_loading() -> bool:
    """True inside the importing thread's own nested lookups (its modules are still being imported)."""
    return threading.get_ident() in _loading


def list_models(kind: str | None = None) -> list[str]:
    """Registered architecture names, optionally only those of one ``kind``."""
    _ensure_loaded()
    if kind is not None and kind not in MODEL_KINDS:
        raise InputError(f"unknown model kind {kind!r}; choose one of: {', '.join(MODEL_KINDS)}")
    return sorted(n for n, s in _REGISTRY.items() if kind is None or s.kind == kind)


def get_model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; unknown names are the user's error (``--arch``)."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown architecture {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}") from None


def model_kind(name: str) -> str:
    """"classification" | "segmentation" | "multitask" | "instance" for architecture ``name``."""
    return get_model_spec(name).kind


def build_model(name: str, *, num_classes: int, in_channels: int = 1, weights=None, **kw):
    """Build architecture ``name`` with ``num_classes`` outputs and ``in_channels`` input channels.

    ``weights``: None (random init), ``"imagenet"``/``"DEFAULT"``, an enum entry name such as
    ``"IMAGENET1K_V1"`` or ``"ResNet34_Weights.IMAGENET1K_V1"``, or a torchvision ``WeightsEnum``. ImageNet
    weights are used only when their file is already in the local torch hub cache; otherwise the network is
    trained from scratch and a warning says so. Nothing is ever downloaded. What happened is recorded on
    the returned module as ``model.sonodash_build`` (architecture, kwargs, ``pretrained``, ``weights``), which
    :func:`core.models.bundle.save_bundle` copies into the bundle's json.

    For segmentation architectures ``num_classes`` is the number of mask channels (1 = binary mask); for
    ``unet_cls`` it is the number of classes of the classification head (the mask has one channel).
    """
    from core.models.weights import apply_pretrained  # torch: imported only when a network is built

    spec = get_model_spec(name)
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")
    if not isinstance(in_channels, int) or isinstance(in_channels, bool) or not 1 <= in_channels <= 16:
        raise InputError(f"in_channels must be an integer in 1..16, got {in_channels!r}")
    try:
        model = spec.builder(num_classes=num_classes, in_channels=in_channels, **kw)
    except (TypeError, ValueError) as err:      # an unknown option, or a value the builder refuses
        raise InputError(f"architecture {name!r}: bad option ({err})") from None
    info = apply_pretrained(model, spec, weights)
    model.sonodash_build = {"architecture": name, "kind": spec.kind, "num_classes": num_classes,
                            "in_channels": in_channels, "arch_kwargs": dict(kw), **info}
    return model


def imagenet_available(arch: str) -> bool:
    """True when ImageNet weights for ``arch`` exist and their file is already in the local torch cache."""
    from core.models.weights import cached_weights_path  # torch: imported only when asked

    spec = get_model_spec(arch)
    return spec.weights is not None and cached_weights_path(spec.weights.DEFAULT).is_file()


def cam_target_layer(model, name: str):
    """The module Grad-CAM should hook for architecture ``name`` (None when the family names none)."""
    spec = get_model_spec(name)
    if spec.cam_layer is None:
        return None
    if callable(spec.cam_layer):
        return spec.cam_layer(model)
    return model.get_submodule(spec.cam_layer)
