"""Input checks shared by every metric function.

Why one module: every public metric takes ``(y_true, y_score, *, ...)`` from user data (a CSV, a manifest, a
store). A bad value must become an :class:`~core.errors.InputError` whose one-line message shows the value
and its position, never a numpy traceback deep inside a formula; an undefined result (no positives, a zero
denominator) becomes a :class:`UndefinedMetricWarning` and NaN, like scikit-learn does.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from core.errors import InputError


class UndefinedMetricWarning(UserWarning):
    """A metric has no value for these data (sensitivity without positive cases, Dice of two empty masks); NaN
    is returned.

    The package's only such class: :mod:`core.segmentation.metrics` and training import this one, so
    ``warnings.simplefilter("ignore", UndefinedMetricWarning)`` or ``pytest.warns`` covers every metric.
    Public path: ``core.evaluation.UndefinedMetricWarning``.
    """


def show(value) -> str:
    """``repr`` of a value as the user wrote it: numpy scalars shown as plain numbers (1.5, not np.float64(1.5))."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def undefined(message: str) -> float:
    """Warn that a metric is undefined and return NaN (the sklearn convention)."""
    warnings.warn(message, UndefinedMetricWarning, stacklevel=3)
    return math.nan


def _as_1d(values, *, name: str) -> np.ndarray:
    if values is None:
        raise InputError(f"{name} is missing (got None)")
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional; got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{name} is empty")
    return arr


def check_scores(y_score, *, name: str = "y_score") -> np.ndarray:
    """Return ``y_score`` as a float64 vector; reject non-numeric, NaN and infinite values by position."""
    arr = _as_1d(y_score, name=name)
    if arr.dtype.kind in "fiub":
        out = np.asarray(arr, dtype=np.float64)
    else:
        out = np.empty(arr.size, dtype=np.float64)
        for i, v in enumerate(arr):
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                raise InputError(f"{name}[{i}] = {show(v)} is not a number") from None
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{name}[{i}] = {show(out[i])} is not a finite number ({bad.size} such value(s))")
    return out


def check_probabilities(y_prob, *, name: str = "y_prob") -> np.ndarray:
    """Like :func:`check_scores`, and every value must lie in [0, 1] (calibration, decision curves)."""
    out = check_scores(y_prob, name=name)
    bad = np.flatnonzero((out < 0) | (out > 1))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{name}[{i}] = {show(out[i])} is not a probability in [0, 1]")
    return out


def _is_zero_one(labels) -> bool:
    try:
        return all(float(v) in (0.0, 1.0) for v in labels)
    except (TypeError, ValueError):
        return False


def check_binary_truth(y_true, *, pos_label=None, name: str = "y_true") -> np.ndarray:
    """Return ``y_true`` as an int8 vector of 0/1 (1 = the positive class).

    ``y_true`` may hold 0/1 (ints, floats, bools) or any two labels; with labels other than 0/1 the caller
    must say which one is positive through ``pos_label`` (we never guess which class is the disease).
    A vector holding one class only is accepted here; metrics that need both classes warn and give NaN.
    """
    arr = _as_1d(y_true, name=name)
    if pos_label is None and arr.dtype.kind in "biuf":
        fast = _numeric_zero_one(arr, name)
        if fast is not None:
            return fast
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        i = int(np.flatnonzero(np.isnan(arr))[0])
        raise InputError(f"{name}[{i}] is missing (NaN)")
    if arr.dtype.kind == "O":
        for i, v in enumerate(arr):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                raise InputError(f"{name}[{i}] is missing ({show(v)})")
    labels = list(dict.fromkeys(arr.tolist()))
    if pos_label is not None:
        if len(labels) > 2:
            raise InputError(f"{name} has {len(labels)} labels {show(labels[:5])}; a binary metric needs two")
        matches = [lab for lab in labels if lab == pos_label or str(lab) == str(pos_label)]
        if not matches and len(labels) == 2:
            raise InputError(f"pos_label {show(pos_label)} is not one of the labels of {name}: {show(labels)}")
        return np.array([1 if (v == pos_label or str(v) == str(pos_label)) else 0 for v in arr], dtype=np.int8)
    if not _is_zero_one(labels):
        bad = next(v for v in labels if not _is_zero_one([v]))
        i = next(i for i, v in enumerate(arr.tolist()) if v == bad or (v is bad))
        if len(labels) == 2:
            raise InputError(f"{name} has labels {show(labels)}, not 0/1; pass pos_label= to say which is positive")
        raise InputError(f"{name}[{i}] = {show(bad)} is not 0 or 1")
    return np.asarray([float(v) for v in arr.tolist()], dtype=np.float64).astype(np.int8)


def _numeric_zero_one(arr: np.ndarray, name: str):
    """Vectorised path for numeric 0/1 truth (a million cases in milliseconds); None to fall back."""
    if arr.dtype.kind == "b":
        return arr.astype(np.int8)
    ok = (arr == 0) | (arr == 1)
    if ok.all():
        return arr.astype(np.int8)
    return None


def check_binary_pair(y_true, y_score, *, pos_label=None, score_name: str = "y_score"):
    """Validate a (truth, score) pair of equal length; returns ``(int8 0/1 vector, float64 vector)``."""
    t = check_binary_truth(y_true, pos_label=pos_label)
    s = check_scores(y_score, name=score_name)
    if t.size != s.size:
        raise InputError(f"y_true has {t.size} values but {score_name} has {s.size}")
    return t, s


def check_confidence(confidence) -> float:
    """A confidence level strictly between 0 and 1 (0.95 for a 95 % interval)."""
    try:
        c = float(confidence)
    except (TypeError, ValueError):
        raise InputError(f"confidence = {show(confidence)} is not a number") from None
    if not 0.0 < c < 1.0:
        raise InputError(f"confidence = {show(confidence)} must lie strictly between 0 and 1 (e.g. 0.95)")
    return c


def check_choice(value, choices, *, name: str) -> str:
    if value not in choices:
        raise InputError(f"{name} = {show(value)} is not one of {list(choices)!r}")
    return value


def check_fraction(value, *, name: str, low: float = 0.0, high: float = 1.0, closed: bool = True) -> float:
    """A number in [low, high] (``closed``) or (low, high)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} = {show(value)} is not a number") from None
    ok = (low <= v <= high) if closed else (low < v < high)
    if not ok or math.isnan(v):
        brackets = ("[", "]") if closed else ("(", ")")
        raise InputError(f"{name} = {show(value)} must lie in {brackets[0]}{low}, {high}{brackets[1]}")
    return v


def check_positive_int(value, *, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} = {show(value)} must be an integer >= {minimum}")
    return int(value)


def both_classes(y_true: np.ndarray, what: str) -> bool:
    """True when ``y_true`` holds both classes; otherwise warn that ``what`` is undefined."""
    n_pos = int(y_true.sum())
    if n_pos == 0 or n_pos == y_true.size:
        undefined(f"{what} is undefined: y_true holds only {'negatives' if n_pos == 0 else 'positives'}")
        return False
    return True
