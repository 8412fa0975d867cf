"""Atomic per-epoch checkpoints and small JSON state files of a run.

Why atomic: a run killed while writing must leave the previous checkpoint intact, so files are written to a
temporary name in the same folder and moved into place with ``os.replace`` (atomic on POSIX). Checkpoints hold
only state dicts, numbers and strings, and are read back with ``torch.load(weights_only=True)``: nothing is
unpickled beyond tensors and plain containers.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(path, state: dict) -> None:
    _atomic_write(Path(path), lambda tmp: torch.save(state, tmp))


def load_checkpoint(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def write_json(path, obj) -> None:
    def w(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, default=str)
    _atomic_write(Path(path), w)


def read_json(path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
