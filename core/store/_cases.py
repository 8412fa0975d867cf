"""Validation of a per-case predictions table before it enters the store.

Why strict: every statistic SonoDash ever shows is recomputed from these rows, so a NaN score, a truth that is
not a class, or a duplicated case would silently corrupt every later figure. Each problem is reported as one
line naming the row and column.
"""

from __future__ import annotations

import math
import numbers

from core.store._values import is_missing, plain
from core.store.errors import StoreError

RULE_COLUMNS = ("rule_applicable", "crl_low", "fhr_low", "both_low")
CASE_COLUMNS = ("case_id", "patient_id", "truth", "truth_index", "score", "scores") + RULE_COLUMNS + ("fold",)
RESERVED = set(CASE_COLUMNS) | {"id", "evaluation_id", "subgroups"}
MAX_ROWS = 5_000_000


def _where(i: int, case_id, column: str) -> str:
    return f"cases row {i} (case_id {case_id!r}), column {column}"


def _scalar(value):
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 0) == 0 else value


def _truth(value, class_names, where):
    if is_missing(value):
        return None, None
    value = _scalar(value)
    if isinstance(value, (bool, numbers.Integral)) or (isinstance(value, numbers.Real) and float(value).is_integer()):
        index = int(value)
        if class_names:
            if not 0 <= index < len(class_names):
                raise StoreError(f"{where}: class index {index} outside 0..{len(class_names) - 1}")
            return class_names[index], index
        return str(index), index
    if isinstance(value, str):
        if class_names and value not in class_names:
            raise StoreError(f"{where}: {value!r} is not one of the classes {', '.join(class_names)}")
        return value, (class_names.index(value) if class_names else None)
    raise StoreError(f"{where}: {value!r} is neither a class name nor a class index")


def _float(value, where, *, required: bool):
    if is_missing(value):
        if required:
            raise StoreError(f"{where}: missing")
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise StoreError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(out):
        raise StoreError(f"{where}: {value!r} is not finite")
    return out


def _flag(value, where):
    if is_missing(value):
        return None
    value = _scalar(value)
    if isinstance(value, (bool, numbers.Integral)) and int(value) in (0, 1):
        return bool(value)
    raise StoreError(f"{where}: {value!r} is not true/false")


def _scores(value, n_classes, where):
    if value is None or (not hasattr(value, "__len__") and is_missing(value)):
        return None
    if isinstance(value, str) or not hasattr(value, "__len__"):
        raise StoreError(f"{where}: expected a list of per-class probabilities, got {value!r}")
    out = [_float(v, where, required=True) for v in list(value)]
    if n_classes and len(out) != n_classes:
        raise StoreError(f"{where}: {len(out)} values for {n_classes} classes")
    return out


def case_rows(cases, *, class_names=None) -> list[dict]:
    """Validated rows ready for the predictions table (without evaluation_id)."""
    import pandas as pd

    if not isinstance(cases, pd.DataFrame):
        raise StoreError(f"cases must be a pandas DataFrame, got {type(cases).__name__}")
    if len(cases) == 0:
        raise StoreError("cases: the table is empty")
    if len(cases) > MAX_ROWS:
        raise StoreError(f"cases: {len(cases)} rows, limit {MAX_ROWS}")
    columns = [str(c) for c in cases.columns]
    if len(set(columns)) != len(columns):
        raise StoreError("cases: duplicated column names")
    missing = [c for c in ("case_id", "patient_id", "truth") if c not in columns]
    if missing:
        raise StoreError(f"cases: missing column(s) {', '.join(missing)}")
    if "score" not in columns and "scores" not in columns:
        raise StoreError("cases: needs a 'score' (positive-class probability) or 'scores' (per class) column")
    class_names = list(class_names or [])
    extra = [c for c in columns if c not in RESERVED]
    rows, seen = [], set()
    for i, rec in enumerate(cases.to_dict("records")):
        case_id = rec["case_id"]
        if is_missing(case_id) or str(case_id).strip() == "":
            raise StoreError(f"cases row {i}, column case_id: missing")
        case_id = str(case_id)
        if len(case_id) > 500:
            raise StoreError(f"{_where(i, case_id[:40], 'case_id')}: longer than 500 characters")
        if case_id in seen:
            raise StoreError(f"{_where(i, case_id, 'case_id')}: duplicated")
        seen.add(case_id)
        if is_missing(rec["patient_id"]):
            raise StoreError(f"{_where(i, case_id, 'patient_id')}: missing")
        truth, truth_index = _truth(rec["truth"], class_names, _where(i, case_id, "truth"))
        scores = _scores(rec.get("scores"), len(class_names), _where(i, case_id, "scores"))
        score = _float(rec.get("score"), _where(i, case_id, "score"), required=scores is None)
        fold = rec.get("fold")
        row = {
            "case_id": case_id,
            "patient_id": str(rec["patient_id"])[:200],
            "truth": truth,
            "truth_index": truth_index,
            "score": score,
            "scores": scores,
            "fold": None if is_missing(fold) else int(_float(fold, _where(i, case_id, "fold"), required=True)),
            "subgroups": {c: plain(rec[c]) for c in extra},
        }
        for col in RULE_COLUMNS:
            row[col] = _flag(rec.get(col), _where(i, case_id, col))
        rows.append(row)
    return rows
