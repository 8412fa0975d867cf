"""Small helpers shared by command modules."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from core.errors import InputError


def _clean(value):
    """JSON has no NaN: floats that are not finite become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return _clean(value.item())
    if isinstance(value, Path):
        return str(value)
    return value


def print_json(obj) -> None:
    """One JSON object on one line of stdout."""
    sys.stdout.write(json.dumps(_clean(obj)) + "\n")
    sys.stdout.flush()


def existing_file(path: str, what: str = "file") -> Path:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: {what} not found")
    return p


def silence_library_logs() -> None:
    """Decoders log their own complaints (Pillow, pydicom); a command's report is one line per file, so
    library records are not printed unless SONODASH_DEBUG is set."""
    import logging
    import os

    if not os.environ.get("SONODASH_DEBUG"):
        logging.getLogger().addHandler(logging.NullHandler())
