"""A bundle's ``model.json`` as one typed, validated, immutable value: :class:`BundleMeta`.

Why a dataclass and not the parsed dict: about thirty keys were read by string in sixteen files, each with its
own default (``meta.get("kind", "classification")`` here, ``"instance"`` there), and a typo read as "missing".
Here every key has one name, one type, one default and one range check, and readers use attributes.

Why the checks: a bundle comes from someone else. ``input_size`` 60000 or ``ensemble_size`` 10^6 would
allocate until the machine runs out of memory, and a deeply nested file would overflow the parser's stack (exit
1 instead of 2). Every value that sizes memory or work is range-checked when the value is made -- by
:meth:`BundleMeta.from_json`, the constructor and :func:`dataclasses.replace` alike -- and a bad one is a
:class:`BundleError` (an InputError: exit 2) of one line naming the bundle and the key.

The JSON on disk is a public contract (DESIGN.md section 4): :meth:`BundleMeta.to_json` writes the keys the
source had, unknown keys included (kept in ``extra``), so ``to_json(from_json(d)) == d`` for the bundles this
package writes, the shipped ``sample_data/models/*/bundle/model.json`` included (a null where a key has a
default, e.g. ``"threshold": null``, reads and is written back as that default).

>>> m = BundleMeta.from_json('{"architecture": "smallcnn", "num_classes": 2, "in_channels": 1, "input_size": 96}')
>>> m.kind, m.threshold, m.normalization.mean
('classification', 0.5, (0.0,))
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType
from typing import Any, Mapping

from core.errors import InputError
from core.models.registry import MODEL_KINDS

FORMAT = "sonodash-bundle"
FORMAT_VERSION = 1
#: bounds of model.json (see the module docstring for why each exists)
MAX_META_BYTES = 4 * 1024 * 1024
MAX_META_DEPTH = 32
META_RANGES = {"num_classes": (1, 1000), "in_channels": (1, 16), "input_size": (1, 2048), "ensemble_size": (1, 64),
               "min_size": (1, 4096), "max_size": (1, 4096), "format_version": (1, 1000),
               "seed": (-2 ** 63, 2 ** 64), "best_fold": (0, 10_000), "fold": (0, 10_000)}
_MAX_NAMES, _MAX_KWARG_INT, _MAX_LIST, _MAX_TEXT = 1000, 4096, 64, 10_000
REQUIRED = ("architecture", "num_classes", "in_channels", "input_size")
_INTERNAL = ("extra", "given", "where")        # dataclass fields that are not model.json keys


class BundleError(InputError):
    """A bundle that cannot be used (missing files, not safetensors, json vs weights mismatch, a bad value)."""


def depth(value) -> int:
    """Nesting depth of parsed JSON, iteratively (no recursion to overflow)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            deepest = max(deepest, level)
            if level > MAX_META_DEPTH:
                return level
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, level + 1) for c in children)
    return deepest


# ------------------------------------------------------------------------------------------- value checks
def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int(where, key, value, lo=None, hi=None):
    lo, hi = META_RANGES.get(key, (lo, hi))
    if isinstance(value, bool) or not isinstance(value, int):
        raise BundleError(f"{where}: field '{key}' must be a whole number, got {value!r:.60}")
    if value < lo or value > hi:
        raise BundleError(f"{where}: field '{key}' = {value!r:.40} is out of range ({lo}..{hi})")
    return value


def _fraction(where, key, value):
    if not _is_number(value):
        raise BundleError(f"{where}: field '{key}' must be a number, got {value!r:.60}")
    if not 0 <= value <= 1:                      # NaN fails both comparisons
        raise BundleError(f"{where}: field '{key}' = {value!r:.40} is out of range (0..1)")
    return float(value)


def _text(where, key, value, limit=_MAX_TEXT):
    if not isinstance(value, str) or len(value) > limit:
        raise BundleError(f"{where}: field '{key}' must be a text of at most {limit} characters, got {value!r:.60}")
    return value


def _names(where, key, value):
    if not isinstance(value, (list, tuple)) or len(value) > _MAX_NAMES or not all(
            isinstance(n, str) and len(n) <= 200 for n in value):
        raise BundleError(f"{where}: field '{key}' must be a list of at most {_MAX_NAMES} short names")
    return tuple(value)


def _frozen_map(where, key, value):
    if not isinstance(value, Mapping):
        raise BundleError(f"{where}: field '{key}' must be an object, got {type(value).__name__}")
    return MappingProxyType(copy.deepcopy(dict(value)))


def _small_values(where, key, value) -> None:
    """arch_kwargs: scalars, short lists and small numbers only (they size layers and buffers)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if _is_number(value):
        if not (value == value) or abs(value) > _MAX_KWARG_INT:
            raise BundleError(f"{where}: field '{key}' = {value!r:.40} is out of range (|x| <= {_MAX_KWARG_INT})")
        return
    if isinstance(value, (list, tuple)) and len(value) <= _MAX_LIST:
        for i, v in enumerate(value):
            _small_values(where, f"{key}[{i}]", v)
        return
    if isinstance(value, Mapping) and len(value) <= _MAX_LIST:
        for k, v in value.items():
            _small_values(where, f"{key}.{k}", v)
        return
    raise BundleError(f"{where}: field '{key}' must be a number, text, or a short list/object")


def _input_size(where, key, value):
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise BundleError(f"{where}: field 'input_size' must be one number or [height, width]")
        return tuple(_int(where, key, v) for v in value)
    return _int(where, key, value)


def _views(where, key, value):
    views = _frozen_map(where, key, value)
    return MappingProxyType({str(k): _names(where, f"{key}.{k}", v) for k, v in views.items()})


def _aliases(where, key, value):
    if not isinstance(value, Mapping) or len(value) > 10_000 or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BundleError(f"{where}: field 'aliases' must map tensor names to tensor names")
    return MappingProxyType(dict(value))


def _arch_kwargs(where, key, value):
    value = _frozen_map(where, key, value)
    _small_values(where, key, value)
    return value


def _kind(where, key, value):
    if value not in MODEL_KINDS:
        raise BundleError(f"{where}: field 'kind' must be one of {', '.join(MODEL_KINDS)}, got {value!r:.60}")
    return value


def _recipe(where, key, value):
    return value if isinstance(value, str) else _frozen_map(where, key, value)   # old bundles: the repr


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean and std on the 0..1 pixel scale (``(x - mean) / std``)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def unit(cls, in_channels: int) -> Normalization:
        return cls((0.0,) * in_channels, (1.0,) * in_channels)

    def to_json(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}


def _normalization(where, key, value):
    if isinstance(value, Normalization):
        value = value.to_json()
    if not isinstance(value, Mapping):
        raise BundleError(f"{where}: field 'normalization' must be an object with mean and std lists")
    out = {}
    for part in ("mean", "std"):
        values = value.get(part)
        if not isinstance(values, (list, tuple)) or not 1 <= len(values) <= 16 or not all(
                _is_number(v) and math.isfinite(v) and abs(v) < 1e6 for v in values):
            raise BundleError(f"{where}: field 'normalization.{part}' must be a short list of numbers")
        out[part] = tuple(float(v) for v in values)
    if any(v == 0 for v in out["std"]):
        raise BundleError(f"{where}: field 'normalization.std' must not contain 0")
    if len(out["mean"]) != len(out["std"]):
        raise BundleError(f"{where}: field 'normalization' has {len(out['mean'])} means and {len(out['std'])} stds")
    return Normalization(out["mean"], out["std"])


def _architecture(where, key, value):
    if not isinstance(value, str) or not 0 < len(value) <= 100:
        raise BundleError(f"{where}: field 'architecture' must be a model name, got {value!r:.60}")
    return value


def _bool(where, key, value):
    if not isinstance(value, bool):
        raise BundleError(f"{where}: field '{key}' must be true or false, got {value!r:.60}")
    return value


def _optional(check):
    return lambda where, key, value: None if value is None else check(where, key, value)


def _frozen(default):
    return field(default_factory=lambda: MappingProxyType(dict(default)))


# --------------------------------------------------------------------------------------------- the value
@dataclass(frozen=True)
class BundleMeta:
    """Everything ``model.json`` says about a bundle. Build one with :meth:`from_json` (or the constructor);
    change one with :func:`dataclasses.replace`; write one with :meth:`to_json`. Mapping fields are read-only
    views (``dict(meta.metrics)`` for a copy)."""

    # what the network is (checked against the weights when loading)
    architecture: str
    num_classes: int
    in_channels: int
    input_size: int | tuple[int, int]
    kind: str = "classification"           # one of core.models.registry.MODEL_KINDS
    arch_kwargs: Mapping[str, Any] = _frozen({})
    ensemble_size: int = 1
    aliases: Mapping[str, str] = _frozen({})   # tied tensors: alias -> stored name
    # what it is for
    task: str | None = None
    name: str | None = None
    class_names: tuple[str, ...] = ()
    positive_label: str | None = None
    # how pictures become its input, and outputs decisions
    normalization: Normalization | None = None     # None: unit statistics for in_channels
    resize_mode: str = "stretch"           # core.models.transforms.RESIZE_MODES
    roi: str = "image"                     # "sac": trained on the sac's square (core.segmentation.roi)
    threshold: float = 0.5
    mask_threshold: float = 0.5
    postprocess: str | None = None         # mask post-processing (core.segmentation.postprocess)
    # instance bundles (Mask R-CNN)
    structures: tuple[str, ...] = ()
    views: Mapping[str, tuple[str, ...]] = _frozen({})
    score_threshold: float | None = None
    min_size: int | None = None
    max_size: int | None = None
    # where it came from
    pretrained: bool = False
    weights: str | None = None
    recipe: Mapping[str, Any] | str | None = None
    cv: str | None = None
    seed: int | None = None
    fold: int | None = None
    best_fold: int | None = None
    ensemble: str | None = None
    ensemble_members: tuple[str, ...] = ()
    data_fingerprint: str | None = None
    training_data: Mapping[str, Any] = _frozen({})
    metrics: Mapping[str, Any] = _frozen({})
    ood: Mapping[str, Any] | None = None   # out-of-distribution calibration (core.ood)
    created: str | None = None
    versions: Mapping[str, str] = _frozen({})
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    # not keys of their own: unknown keys (written back unchanged), the keys the source gave, and its name
    extra: Mapping[str, Any] = _frozen({})
    given: frozenset = field(default=frozenset(), compare=False, repr=False)
    where: str = field(default="bundle meta", compare=False, repr=False)

    def __post_init__(self):
        for f in fields(self):
            check = _CHECKS.get(f.name)
            if check is not None:
                object.__setattr__(self, f.name, check(self.where, f.name, getattr(self, f.name)))
        if self.normalization is None:
            object.__setattr__(self, "normalization", Normalization.unit(self.in_channels))
        n = len(self.normalization.mean)
        if n not in (1, self.in_channels):
            raise BundleError(f"{self.where}: field 'normalization.mean' has {n} values for "
                              f"{self.in_channels} input channels")
        extra = _frozen_map(self.where, "extra", self.extra)
        clash = sorted(set(extra) & _KEYS)
        if clash:
            raise BundleError(f"{self.where}: field {clash[0]!r} given twice (as a key and in extra)")
        object.__setattr__(self, "extra", extra)
        object.__setattr__(self, "given", frozenset(self.given))

    # -------------------------------------------------------------------------------------- json
    @classmethod
    def from_json(cls, data, *, where: str = "bundle meta") -> BundleMeta:
        """A validated :class:`BundleMeta` from ``model.json``'s text or its parsed object; a bad value is a
        one-line :class:`BundleError` naming ``where`` (the file) and the key."""
        where = str(where)
        if isinstance(data, (str, bytes)):
            if len(data) > MAX_META_BYTES:
                raise BundleError(f"{where}: {len(data)} bytes, larger than the limit of {MAX_META_BYTES}")
            try:
                data = json.loads(data)
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise BundleError(f"{where}: not valid JSON ({str(err)[:120]})") from None
            except RecursionError:
                raise BundleError(f"{where}: nested deeper than {MAX_META_DEPTH} levels") from None
        if isinstance(data, BundleMeta):
            return data
        if not isinstance(data, Mapping):
            raise BundleError(f"{where}: expected a JSON object")
        if depth(dict(data)) > MAX_META_DEPTH:
            raise BundleError(f"{where}: nested deeper than {MAX_META_DEPTH} levels")
        missing = [k for k in REQUIRED if k not in data]
        if missing:
            raise BundleError(f"{where}: missing key(s) {', '.join(missing)}")
        known = {k: v for k, v in data.items() if k in _KEYS}
        extra = {k: v for k, v in data.items() if k not in _KEYS}
        for key in _DEFAULT_WHEN_NULL:     # a null where a value has a default reads as the default
            if known.get(key, 0) is None:
                known[key] = _DEFAULTS[key]
        return cls(**known, extra=extra, given=frozenset(known), where=where)

    def to_json(self) -> dict:
        """The JSON object of ``model.json``: the keys the source gave (unknown ones included) and every
        value that differs from its default."""
        out = {}
        for f in fields(self):
            if f.name in _INTERNAL:
                continue
            value = getattr(self, f.name)
            if f.name in REQUIRED or f.name in self.given or value != _DEFAULTS.get(f.name, MISSING):
                out[f.name] = _thaw(value)
        out.update(_thaw(self.extra))
        return out

    def __reduce__(self):          # pickle / deepcopy through the JSON (read-only views do not pickle)
        return (_from_state, (self.to_json(), self.where))

    def __hash__(self):
        return hash(json.dumps(self.to_json(), sort_keys=True, default=str))

    # ------------------------------------------------------------------------------------- views
    @property
    def input_hw(self) -> tuple[int, int]:
        """``(height, width)`` of the network input."""
        size = self.input_size
        return (size, size) if isinstance(size, int) else tuple(size)


def _from_state(data: dict, where: str) -> BundleMeta:
    return BundleMeta.from_json(data, where=where)


def _thaw(value):
    """A plain JSON-ready copy (lists, dicts) of a frozen value."""
    if isinstance(value, Normalization):
        return value.to_json()
    if isinstance(value, Mapping):
        return {str(k): _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return copy.deepcopy(value)


def _short(where, key, value):
    return _text(where, key, value, 200)


_name = _optional(_short)
_CHECKS = {
    "architecture": _architecture, "num_classes": _int, "in_channels": _int, "input_size": _input_size,
    "kind": _kind, "arch_kwargs": _arch_kwargs, "ensemble_size": _int, "aliases": _aliases, "task": _name,
    "name": _name, "class_names": _names, "positive_label": _name, "normalization": _optional(_normalization),
    "resize_mode": _short, "roi": _short, "threshold": _fraction, "mask_threshold": _fraction, "postprocess": _name,
    "structures": _names, "views": _views, "score_threshold": _optional(_fraction), "min_size": _optional(_int),
    "max_size": _optional(_int), "pretrained": _bool, "weights": _name, "recipe": _optional(_recipe), "cv": _name,
    "seed": _optional(_int), "fold": _optional(_int), "best_fold": _optional(_int), "ensemble": _optional(_text),
    "ensemble_members": _names, "data_fingerprint": _name, "training_data": _frozen_map, "metrics": _frozen_map,
    "ood": _optional(_frozen_map), "created": _name, "versions": _frozen_map, "format": _short,
    "format_version": _int,
}
_KEYS = frozenset(f.name for f in fields(BundleMeta) if f.name not in _INTERNAL)
_DEFAULTS = {f.name: (f.default if f.default is not MISSING else f.default_factory())
             for f in fields(BundleMeta) if f.name not in REQUIRED and f.name not in _INTERNAL}
_DEFAULT_WHEN_NULL = ("class_names", "ensemble_members", "structures", "views", "arch_kwargs", "aliases",
                      "training_data", "metrics", "versions", "ensemble_size", "pretrained", "threshold",
                      "mask_threshold", "resize_mode", "roi", "kind")
