"""Turning pandas/numpy values into plain JSON-able Python values.

Why: JSON columns must hold standard JSON on every backend (PostgreSQL rejects NaN), and numpy scalars are not
serialisable; a missing value in a cases table (NaN, None, pd.NA, NaT) becomes SQL NULL / JSON null.
"""

from __future__ import annotations

import math
from datetime import date, datetime


def is_missing(value) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        result = pd.isna(value)
    except (TypeError, ValueError):
        return False
    return bool(result) if isinstance(result, (bool,)) or getattr(result, "ndim", 1) == 0 else False


def plain(value):
    """A JSON-safe plain Python value (dicts and lists converted recursively)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) >= 1:
        return [plain(v) for v in value.tolist()]
    if is_missing(value):
        return None
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
