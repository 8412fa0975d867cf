"""Model bundles: ``model.safetensors`` (weights) + ``model.json`` (everything needed to use them).

Why this format (DESIGN.md section 4): a bundle travels between people, so loading one must never run code.
safetensors holds raw tensors only; we additionally check the file's header *structure* before handing it
to the library, so a pickle or a torch.save zip renamed to ``model.safetensors`` is refused with a message
that names the file, and nothing is unpickled. The json carries the architecture and preprocessing so a
page never rebuilds preprocessing by hand; every tensor's name and shape is checked against the network the
json describes. Bundles are written into a temporary directory and moved into place, so a crash never
leaves a half-written bundle. The json is read and written as a :class:`core.models.meta.BundleMeta` (typed,
range-checked, immutable); the keys on disk stay those of DESIGN.md section 4.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import struct
import uuid
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from core.errors import InputError
from core.models.ensemble import ModelEnsemble
from core.models.meta import FORMAT, FORMAT_VERSION, MAX_META_BYTES, BundleError, BundleMeta
from core.models.registry import build_model, model_kind
from core.models.transforms import normalization_stats

WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"
_MAX_HEADER = 100 * 1024 * 1024
_SAFETENSORS_DTYPES = {"BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64", "F8_E4M3", "F8_E5M2",
                       "F16", "BF16", "F32", "F64", "C64"}


# ----------------------------------------------------------------------------------------------- writing
def _jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _versions() -> dict:
    import numpy
    import safetensors
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "safetensors": safetensors.__version__, "numpy": numpy.__version__}


def _build_info(model) -> dict:
    if isinstance(model, ModelEnsemble):
        info = dict(getattr(model.members[0], "sonodash_build", {}))
        info["ensemble_size"] = len(model.members)
        return info
    return dict(getattr(model, "sonodash_build", {}))


def complete_meta(model, meta: dict | BundleMeta) -> BundleMeta:
    """``meta`` with what the model itself knows filled in, as a validated :class:`BundleMeta`."""
    if isinstance(meta, BundleMeta):
        meta = meta.to_json()
    info = _build_info(model)
    out = {"format": FORMAT, "format_version": FORMAT_VERSION}
    for key in ("architecture", "kind", "num_classes", "in_channels", "arch_kwargs", "pretrained", "weights",
                "ensemble_size"):
        if key in info:
            out[key] = info[key]
    out.update(_jsonable(dict(meta)))
    out.setdefault("arch_kwargs", {})
    out.setdefault("ensemble_size", 1)
    out.setdefault("pretrained", False)
    out.setdefault("weights", None)
    for key in ("architecture", "num_classes", "in_channels", "input_size"):
        if out.get(key) is None:
            raise ValueError(f"bundle meta needs {key!r} (build the model with build_model or pass it in meta)")
    out["kind"] = out.get("kind") or model_kind(out["architecture"])
    norm = out.get("normalization", "unit")
    if isinstance(norm, str):
        out["normalization"] = normalization_stats(norm, in_channels=out["in_channels"])
    names = out.get("class_names")
    if out["kind"] in ("classification", "multitask"):
        want = 2 if out["num_classes"] == 1 else out["num_classes"]
        if names is None or len(names) != want:
            raise ValueError(f"bundle meta needs {want} class_names for a {out['num_classes']}-output classifier, "
                             f"got {names!r}")
    out.setdefault("threshold", 0.5)
    out.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    out.setdefault("versions", _versions())
    return BundleMeta.from_json(out)


def _safetensors_state(state: dict) -> tuple[dict, dict]:
    """Contiguous CPU tensors with no two sharing storage (safetensors refuses that), plus aliases.

    Tensors that are the very same view of one storage (tied weights) are stored once and recorded as
    ``alias -> kept name``; partial overlaps are stored as independent copies.
    """
    tensors, aliases, seen = {}, {}, {}
    for name, t in state.items():
        t = t.detach()
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype) \
            if t.device.type != "meta" else None
        if key is not None and t.numel() and key in seen:
            aliases[name] = seen[key]
            continue
        if key is not None and t.numel():
            seen[key] = name
        tensors[name] = t.to("cpu").contiguous().clone()
    return tensors, aliases


def save_bundle(directory, model, meta: dict | BundleMeta) -> Path:
    """Write ``model`` and ``meta`` as a bundle directory, atomically; returns the directory.

    ``meta`` (a :class:`BundleMeta`, or a dict such as :func:`core.models.meta_builder.training_meta` builds) carries
    task, class_names, input_size, normalization ("unit", "imagenet" or {"mean", "std"}),
    threshold, recipe, data fingerprint, metrics...; architecture, num_classes, in_channels and whether
    ImageNet weights were used come from the model when it was made by :func:`build_model`.
    An existing bundle at ``directory`` is replaced; any other existing directory is refused.
    """
    target = Path(directory)
    if target.exists():
        extra = sorted(p.name for p in target.iterdir() if p.name not in (WEIGHTS_FILE, META_FILE)) \
            if target.is_dir() else [target.name]
        if extra:
            raise InputError(f"{target}: exists and is not a model bundle ({', '.join(extra[:3])}); refusing to "
                             f"overwrite it")
    tensors, aliases = _safetensors_state(model.state_dict())
    full = dataclasses.replace(complete_meta(model, meta), aliases=aliases)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": "pt", "aliases": json.dumps(aliases)})
        _write_json(tmp / META_FILE, full)
        _swap_into_place(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_json(path: Path, meta: BundleMeta) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(meta.to_json(), fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())


def write_meta(directory, meta: BundleMeta) -> Path:
    """Replace only the ``model.json`` of an existing bundle (e.g. a calibration added to a shipped bundle),
    atomically: a reader never sees half a file. The weights are not touched, so the architecture, classes
    and input must still describe them."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise BundleError(f"{path}: missing; a bundle holds {META_FILE} and {WEIGHTS_FILE}")
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        _write_json(tmp, meta)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _swap_into_place(tmp: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------------------------- reading
def check_safetensors_file(path) -> dict:
    """Validate the safetensors header structure of ``path`` and return the header; never unpickles.

    Layout: 8-byte little-endian header length N, then N bytes of JSON mapping tensor names to
    {dtype, shape, data_offsets}. The structure decides; only when it fails do the first bytes name the
    culprit (a pickle's ``\\x80`` protocol byte, a torch.save zip's ``PK``), because a genuine header length
    may start with those bytes too.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        raw = fh.read(n) if 2 <= n <= min(size - 8, _MAX_HEADER) else None
    reason = _header_problem(head, n, raw, size)
    if reason is None:
        return json.loads(raw.decode("utf-8"))
    if head[:2] == b"PK":
        reason = "it is a zip archive (torch.save format)"
    elif head[:1] == b"\x80":
        reason = "it is a Python pickle"
    raise BundleError(f"{path}: not a safetensors file ({reason}); refusing to load it, nothing was unpickled")


def _header_problem(head: bytes, n: int, raw: bytes | None, size: int) -> str | None:
    """Why the bytes are not a safetensors header, or None when they are one."""
    if n < 0:
        return f"only {size} bytes long"
    if raw is None:
        return f"header length {n} does not fit a {size}-byte file"
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "its header is not JSON"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    data_len = size - 8 - n
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        ok = (isinstance(entry, dict) and entry.get("dtype") in _SAFETENSORS_DTYPES
              and isinstance(entry.get("shape"), list) and all(isinstance(d, int) and d >= 0 for d in entry["shape"])
              and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2
              and all(isinstance(o, int) for o in entry["data_offsets"])
              and 0 <= entry["data_offsets"][0] <= entry["data_offsets"][1] <= data_len)
        if not ok:
            return f"tensor entry {name!r} is malformed"
    return None


def read_meta(directory) -> BundleMeta:
    """The parsed, range-checked ``model.json`` of a bundle directory (cheap: no weights read)."""
    d = Path(directory)
    if not d.is_dir():
        raise BundleError(f"{d}: model bundle directory not found")
    path = d / META_FILE
    if not path.is_file():
        raise BundleError(f"{path}: missing; a bundle holds {META_FILE} and {WEIGHTS_FILE}")
    if path.stat().st_size > MAX_META_BYTES:
        raise BundleError(f"{path}: {path.stat().st_size} bytes, larger than the limit of {MAX_META_BYTES}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise BundleError(f"{path}: not valid JSON ({str(err)[:120]})") from None
    return BundleMeta.from_json(text, where=str(path))


def build_from_meta(meta: BundleMeta, *, device: str | torch.device = "cpu"):
    """The (randomly initialised) network ``meta`` describes: one member, or a :class:`ModelEnsemble`."""
    kw = dict(meta.arch_kwargs)

    def one():
        return build_model(meta.architecture, num_classes=meta.num_classes, in_channels=meta.in_channels, **kw)

    with torch.device(device):
        return ModelEnsemble([one() for _ in range(meta.ensemble_size)]) if meta.ensemble_size > 1 else one()


def _differences(expected: dict, got: dict) -> list[str]:
    diffs = []
    for name, t in expected.items():
        if name not in got:
            diffs.append(f"missing {name} {list(t.shape)}")
        elif tuple(got[name].shape) != tuple(t.shape):
            diffs.append(f"{name}: json says {list(t.shape)}, weights have {list(got[name].shape)}")
    diffs += [f"unexpected {name} {list(got[name].shape)}" for name in got if name not in expected]
    return diffs


def load_bundle(directory, *, device: str | torch.device = "cpu"):
    """``(model, meta)`` from a bundle directory (``meta``: a :class:`BundleMeta`); the model is in eval mode
    on ``device``.

    Refuses (``BundleError``, an :class:`InputError`) anything that is not a safetensors file, and weights
    whose tensor names or shapes differ from the network described by ``model.json``.
    """
    d = Path(directory)
    meta = read_meta(d)
    wpath = d / WEIGHTS_FILE
    if not wpath.is_file():
        raise BundleError(f"{wpath}: missing; a bundle holds {META_FILE} and {WEIGHTS_FILE}")
    check_safetensors_file(wpath)
    try:
        tensors = load_file(str(wpath))
    except Exception as err:  # noqa: BLE001 - the library's own checks on a damaged file
        raise BundleError(f"{wpath}: unreadable safetensors file ({err})") from None
    aliases = meta.aliases
    for alias, kept in aliases.items():
        if kept in tensors:
            tensors[alias] = tensors[kept]
    try:
        skeleton = build_from_meta(meta, device="meta") if not aliases else None
    except InputError as err:
        raise BundleError(f"{d / META_FILE}: {err}") from None
    model = skeleton if skeleton is not None else build_from_meta(meta)
    expected = model.state_dict()
    diffs = _differences(expected, tensors)
    if diffs:
        more = f" (+{len(diffs) - 5} more)" if len(diffs) > 5 else ""
        raise BundleError(f"{wpath}: weights do not match {meta.architecture!r} described in {META_FILE}: "
                          f"{'; '.join(diffs[:5])}{more}")
    tensors = {k: v.to(expected[k].dtype) for k, v in tensors.items()}
    model.load_state_dict(tensors, strict=True, assign=skeleton is not None)
    if skeleton is not None and any(t.is_meta for t in list(model.parameters()) + list(model.buffers())):
        model = build_from_meta(meta)
        model.load_state_dict(tensors, strict=True)
    _record_origin(model, meta)
    return model.to(device).eval(), meta


def _record_origin(model, meta: BundleMeta) -> None:
    """Keep the bundle's ImageNet record on the rebuilt network, so re-saving it does not lose it."""
    origin = {"pretrained": meta.pretrained, "weights": meta.weights}
    members = model.members if isinstance(model, ModelEnsemble) else [model]
    for m in members:
        build = dict(getattr(m, "sonodash_build", {}))
        build.update(origin)
        m.sonodash_build = build
