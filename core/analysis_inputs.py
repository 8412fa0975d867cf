"""Inputs of :func:`core.pipeline.analyze` through the gate: paths, bytes, ``(name, bytes)`` pairs, arrays,
LoadedImage, or the viewer's chosen frames -> LoadedImage, each named by its file name (never a server path);
with ``on_error="skip"`` an unreadable file becomes ``{"file", "error"}`` instead of losing the others.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import InputError
from core.explain.overlay import to_rgb_uint8
from core.frames import load_frames
from core.io import LoadedImage, load_image


def _as_loaded(item, *, frame_step: int, limits, frames=None):
    """Paths, bytes, ``(name, bytes)`` pairs, arrays or LoadedImage -> LoadedImage (through the gate)."""
    if isinstance(item, LoadedImage):
        return item
    if isinstance(item, np.ndarray):
        return LoadedImage(frames=to_rgb_uint8(item)[None], kind="array", name="array")
    if frames is not None and isinstance(item, (tuple, str, Path, bytes, bytearray)):  # viewer's frame choice

        name, data = item if isinstance(item, tuple) else (None, item)
        name = Path(str(name if name is not None else item if isinstance(item, (str, Path)) else "upload")).name
        chosen = frames.get(name) if isinstance(frames, dict) else frames
        if chosen is not None:
            return load_frames(data, chosen, name=name, limits=limits)
    if isinstance(item, tuple) and len(item) == 2:
        name, data = item
        return load_image(data, name=Path(str(name)).name, limits=limits, frame_step=frame_step)
    if isinstance(item, (str, Path)):     # named by its file name: a server path never reaches a page or report
        return load_image(item, name=Path(item).name, limits=limits, frame_step=frame_step)
    if isinstance(item, (bytes, bytearray)):
        return load_image(item, limits=limits, frame_step=frame_step)
    raise InputError(f"cannot analyze an input of type {type(item).__name__}")


def _load_all(items: list, *, frame_step: int, limits, on_error: str, frames=None) -> tuple[list, list]:
    """Every readable input through the gate; the unreadable ones as ``{"file", "error"}`` (on_error="skip")."""
    loaded, errors = [], []
    for i, item in enumerate(items):
        try:
            loaded.append(_as_loaded(item, frame_step=frame_step, limits=limits, frames=frames))
        except InputError as err:
            if on_error == "raise":
                raise
            name = item[0] if isinstance(item, tuple) else item if isinstance(item, (str, Path)) else f"input {i + 1}"
            errors.append({"file": Path(str(name)).name, "error": str(err)})
    if not loaded:
        raise InputError(errors[0]["error"] if len(errors) == 1 else
                         f"none of the {len(errors)} files could be read: " + "; ".join(e["error"] for e in errors))
    return loaded, errors


def _spacing(value) -> float | None:
    if value is None:
        return None
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise InputError(f"pixel spacing must be a number of mm per pixel, got {value!r}") from None
    if not np.isfinite(s) or s <= 0:
        raise InputError(f"pixel spacing must be a positive number of mm per pixel, got {value!r}")
    return s
