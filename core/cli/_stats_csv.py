"""Reading the columns a ``stats`` command needs from a CSV of per-case scores, fast, with line-exact errors.

Why two paths: a million-row score file must load in well under a second, so the good case goes through
``pyarrow.csv`` (multi-threaded, typed columns, only the needed columns). Anything odd in a column (a word
where a number belongs, an empty cell, ``inf``) sends that column through the plain pandas string path, which
finds the first bad cell and names its CSV line, so the error message does not depend on which path ran.
Column names match exactly first, then ignoring case and surrounding spaces (``resolve_column``).
"""

from __future__ import annotations

import csv
import io

import numpy as np

from core.errors import InputError


class _Header:
    def __init__(self, names):
        self.columns = names


def read_header(path) -> list[str]:
    """The header row (UTF-8, BOM allowed); InputError for an empty or undecodable file."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline()
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    if not text.strip():
        raise InputError(f"{path}: the CSV is empty")
    return next(csv.reader(io.StringIO(text)))


def resolve(path, header: list[str], name: str | None) -> str | None:
    from core.evaluation.subgroups import resolve_column

    if name is None:
        return None
    try:
        return resolve_column(_Header(header), name)
    except InputError as err:
        raise InputError(f"{path}: {err}") from None


def _pandas_strings(path, cols):
    import pandas as pd

    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, usecols=cols, encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the CSV is empty") from None
    except (pd.errors.ParserError, ValueError) as err:
        raise InputError(f"{path}: not a readable CSV ({str(err).strip().splitlines()[-1]})") from None


def load(path, columns: list[str]) -> dict:
    """{column: pyarrow ChunkedArray or a list of str} for the (resolved, distinct) ``columns``."""
    cols = list(dict.fromkeys(c for c in columns if c is not None))
    table = None
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:                     # pyarrow is pinned; without it the pandas path still works
        pa = None
    if pa is not None:
        try:
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(include_columns=cols,
                                                                               strings_can_be_null=False))
        except (pa.ArrowException, UnicodeDecodeError):
            table = None                    # ragged rows, bad bytes, ...: pandas words the error for the user
    if table is not None:
        if table.num_rows == 0:
            raise InputError(f"{path}: the CSV has a header but no rows")
        return {c: table.column(c) for c in cols}
    df = _pandas_strings(path, cols)
    if len(df) == 0:
        raise InputError(f"{path}: the CSV has a header but no rows")
    return {c: df[c].tolist() for c in cols}


def _np(values) -> np.ndarray:
    """A pyarrow ChunkedArray as numpy, chunk by chunk (ChunkedArray.to_numpy imports pandas: +0.8 s)."""
    chunks = [_chunk(c) for c in values.chunks]
    return np.concatenate(chunks) if chunks else np.empty(0)


def _chunk(c) -> np.ndarray:
    """One pyarrow array as numpy; numeric arrays without nulls straight from their data buffer (Array.to_numpy
    of an integer column imports pandas too)."""
    import pyarrow as pa

    if (pa.types.is_integer(c.type) or pa.types.is_floating(c.type)) and c.null_count == 0:
        return np.frombuffer(c.buffers()[1], dtype=c.type.to_pandas_dtype())[c.offset:c.offset + len(c)]
    return c.to_numpy(zero_copy_only=False)


def _bad_number(path, col, raw_values):
    for i, raw in enumerate(raw_values):
        text = raw.strip()
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not np.isfinite(value):
            shown = repr(raw) if text else "empty"
            raise InputError(f"{path}: line {i + 2} (row {i + 1}), column {col!r}: score {shown} is not a number")
    raise InputError(f"{path}: column {col!r} could not be read as numbers")


def numbers(path, data: dict, col: str) -> np.ndarray:
    """A score column as float64; the first bad cell raises InputError naming its CSV line (header = line 1)."""
    values = data[col]
    if not isinstance(values, list):
        import pyarrow as pa

        if (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)) and values.null_count == 0:
            out = _np(values).astype(np.float64, copy=False)
            if np.isfinite(out).all():
                return out
        values = _pandas_strings(path, [col])[col].tolist()
    out = np.empty(len(values), dtype=np.float64)
    try:
        out[:] = [float(v) for v in values]
    except ValueError:
        _bad_number(path, col, values)
    if not np.isfinite(out).all():
        _bad_number(path, col, values)
    return out


def _label_order(label):
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def strings(path, data: dict, col: str, *, what: str = "value") -> np.ndarray:
    """A label column as an array of stripped str; an empty cell raises InputError naming its line."""
    values = data[col]
    if not isinstance(values, list):
        import pyarrow as pa
        import pyarrow.compute as pc

        if values.null_count:
            values = values.fill_null("")
        text = pc.utf8_trim_whitespace(values.cast(pa.string())) if not pa.types.is_string(values.type) \
            else pc.utf8_trim_whitespace(values)
        arr = np.asarray(_np(text), dtype=object)
        if pa.types.is_floating(values.type):        # 1.0 stays "1.0" as the user wrote it in most files
            arr = np.asarray([_float_text(v) for v in values.to_pylist()], dtype=object)
    else:
        arr = np.asarray([v.strip() for v in values], dtype=object)
    empty = np.flatnonzero(arr == "")
    if empty.size:
        i = int(empty[0])
        raise InputError(f"{path}: line {i + 2} (row {i + 1}), column {col!r}: the {what} is empty")
    return arr


def _float_text(v):
    return "" if v is None else (str(int(v)) if float(v).is_integer() else repr(float(v)))


def truth(path, data: dict, col: str, positive) -> tuple[np.ndarray, str]:
    """0/1 truth (int8) and the positive label, from 0/1 values or two labels with ``positive`` named."""
    values = data[col]
    if not isinstance(values, list):
        import pyarrow as pa

        if pa.types.is_integer(values.type) and values.null_count == 0 and positive is None:
            arr = _np(values)
            if ((arr == 0) | (arr == 1)).all():
                return arr.astype(np.int8), "1"
    arr = strings(path, data, col, what="truth value")
    labels = sorted({str(v) for v in np.unique(arr)}, key=_label_order)
    if positive is not None:
        pos = str(positive).strip()
        if pos not in labels:
            raise InputError(f"{path}: --positive {positive!r} is not a value of column {col!r} (values: {labels!r})")
        if len(labels) > 2:
            raise InputError(f"{path}: column {col!r} has {len(labels)} values {labels[:6]!r}; ROC needs two")
        return (arr == pos).astype(np.int8), pos
    try:
        parsed = {v: float(v) for v in labels}
    except ValueError:
        parsed = None
    if parsed is not None and set(parsed.values()) <= {0.0, 1.0}:
        ones = [v for v, x in parsed.items() if x == 1.0]
        return np.isin(arr, ones).astype(np.int8), "1"
    if len(labels) != 2:
        raise InputError(f"{path}: column {col!r} has values {labels[:6]!r}; expected 0/1 or two labels")
    raise InputError(f"{path}: column {col!r} has labels {labels!r}; say which is positive with --positive LABEL")
