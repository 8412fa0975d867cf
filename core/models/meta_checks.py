"""Range checks of a bundle's ``model.json``, before anything it describes is built or allocated.

Why: a bundle comes from someone else. ``input_size`` 60000 or ``ensemble_size`` 10^6 would allocate until
the machine runs out of memory, and a deeply nested file would overflow the parser's stack (exit 1 instead of
2). Every value that sizes memory or work is checked against a range here; a bad one is a
:class:`core.models.bundle.BundleError` (an InputError: exit 2) naming the field.
"""

from __future__ import annotations

from core.errors import InputError


class BundleError(InputError):
    """A bundle directory that cannot be used (missing files, not safetensors, json vs weights mismatch).

    Defined here, below :mod:`core.models.bundle` (which re-exports it), so the checks need no import of the
    module that calls them.
    """


def _error(message: str) -> BundleError:
    return BundleError(message)


#: bounds of model.json (why: a bundle comes from someone else; input_size 60000 or ensemble_size 10^6 would
#: allocate until the machine runs out of memory, a deeply nested file would overflow the parser's stack)
MAX_META_BYTES = 4 * 1024 * 1024
MAX_META_DEPTH = 32
META_RANGES = {"num_classes": (1, 1000), "in_channels": (1, 16), "input_size": (1, 2048),
               "ensemble_size": (1, 64)}
_MAX_CLASS_NAMES, _MAX_KWARG_INT, _MAX_LIST = 1000, 4096, 64


def depth(value) -> int:
    """Nesting depth of parsed JSON, iteratively (no recursion to overflow)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level > MAX_META_DEPTH:
                return level
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, level + 1) for c in children)
    return deepest


def _number(meta: dict, key: str, path, *, integer: bool = True, lo=None, hi=None, required: bool = True):
    value = meta.get(key)
    if value is None and not required:
        return
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _error(f"{path}: field '{key}' must be {'a whole number' if integer else 'a number'}, "
                          f"got {value!r:.60}")
    if (lo is not None and value < lo) or (hi is not None and value > hi) or value != value:
        raise _error(f"{path}: field '{key}' = {value!r:.40} is out of range ({lo}..{hi})")


def _small_values(value, path, where: str) -> None:
    """arch_kwargs: scalars, short lists and small numbers only (they size layers and buffers)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        if not (value == value) or abs(value) > _MAX_KWARG_INT:
            raise _error(f"{path}: field '{where}' = {value!r:.40} is out of range (|x| <= {_MAX_KWARG_INT})")
        return
    if isinstance(value, list) and len(value) <= _MAX_LIST:
        for i, v in enumerate(value):
            _small_values(v, path, f"{where}[{i}]")
        return
    if isinstance(value, dict) and len(value) <= _MAX_LIST:
        for k, v in value.items():
            _small_values(v, path, f"{where}.{k}")
        return
    raise _error(f"{path}: field '{where}' must be a number, text, or a short list/object")


def check_meta(meta: dict, path) -> dict:
    """Range-check every value of ``model.json`` that sizes memory or work, before anything is built;
    a bad value is a :class:`BundleError` (exit 2) naming the field."""
    missing = [k for k in ("architecture", "num_classes", "in_channels", "input_size") if k not in meta]
    if missing:
        raise _error(f"{path}: missing key(s) {', '.join(missing)}")
    if not isinstance(meta["architecture"], str) or not 0 < len(meta["architecture"]) <= 100:
        raise _error(f"{path}: field 'architecture' must be a model name, got {meta['architecture']!r:.60}")
    for key in ("num_classes", "in_channels", "ensemble_size"):
        lo, hi = META_RANGES[key]
        _number(meta, key, path, lo=lo, hi=hi, required=key != "ensemble_size")
    size = meta["input_size"]
    lo, hi = META_RANGES["input_size"]
    if isinstance(size, list):
        if len(size) != 2:
            raise _error(f"{path}: field 'input_size' must be one number or [height, width]")
        for i, v in enumerate(size):
            _number({"input_size": v}, "input_size", path, lo=lo, hi=hi)
    else:
        _number(meta, "input_size", path, lo=lo, hi=hi)
    _number(meta, "threshold", path, integer=False, lo=0, hi=1, required=False)
    names = meta.get("class_names")
    if names is not None and (not isinstance(names, list) or len(names) > _MAX_CLASS_NAMES
                              or not all(isinstance(n, str) and len(n) <= 200 for n in names)):
        raise _error(f"{path}: field 'class_names' must be a list of at most {_MAX_CLASS_NAMES} short names")
    kwargs = meta.get("arch_kwargs")
    if kwargs is not None:
        if not isinstance(kwargs, dict):
            raise _error(f"{path}: field 'arch_kwargs' must be an object")
        _small_values(kwargs, path, "arch_kwargs")
    norm = meta.get("normalization")
    if isinstance(norm, dict):
        for key in ("mean", "std"):
            values = norm.get(key)
            if not isinstance(values, list) or not 1 <= len(values) <= 16 or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e6 for v in values):
                raise _error(f"{path}: field 'normalization.{key}' must be a short list of numbers")
        if any(v == 0 for v in norm["std"]):
            raise _error(f"{path}: field 'normalization.std' must not contain 0")
    aliases = meta.get("aliases")
    if aliases is not None and (not isinstance(aliases, dict) or len(aliases) > 10_000
                                or not all(isinstance(k, str) and isinstance(v, str) for k, v in aliases.items())):
        raise _error(f"{path}: field 'aliases' must map tensor names to tensor names")
    return meta
