"""Text that leaves or names things in SonoDash: identifiers without hidden characters, CSV cells that a
spreadsheet will not execute.

Why: a user name or study name containing NUL or a bidirectional-override character (U+202E ...) can look
like another name on screen ("admin" vs "nimda" reversed) or truncate in C libraries, so such identifiers are
refused at the gate. A CSV cell beginning with ``=``, ``+``, ``-``, ``@``, TAB or CR is run as a formula by
Excel/LibreOffice (OWASP "CSV injection"); every CSV SonoDash writes passes its cells through
:func:`csv_cell`, which prefixes such a cell with a single quote so it reads as text.

>>> csv_cell("=HYPERLINK(\\"http://x\\")")
'\\'=HYPERLINK("http://x")'
>>> csv_cell(-1.5)      # numbers stay numbers
-1.5
"""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from typing import Iterable, Sequence

from core.errors import InputError

# Explicit bidi embeddings/overrides/isolates and marks (Unicode TR9), plus zero-width characters.
_BIDI = set("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\ufeff")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def unsafe_characters(text: str) -> list[str]:
    """Code points in ``text`` that must not appear in an identifier (as ``U+XXXX``)."""
    bad = []
    for ch in str(text):
        if ch == "\0" or ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cf"):
            bad.append(f"U+{ord(ch):04X}")
    return bad


def check_identifier(value, what: str = "name") -> str:
    """``value`` stripped, or :class:`InputError` naming the first NUL, control or bidi character in it."""
    text = str(value if value is not None else "").strip()
    bad = unsafe_characters(text)
    if bad:
        raise InputError(f"{what}: contains the invisible control character {bad[0]}; type it again without it")
    return text


def csv_cell(value):
    """One CSV cell that spreadsheets show as text: strings starting with = + - @ TAB CR get a leading '.

    Numbers (int, float, bool) are left alone, so ``-1.5`` stays a number; NaN/None become empty cells.
    """
    if value is None:
        return ""
    if isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, float):
        return "" if math.isnan(value) else value
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def to_csv(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A CSV document (header + rows) with every cell passed through :func:`csv_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buffer.getvalue()


def dataframe_to_csv(frame) -> str:
    """:func:`to_csv` of a pandas DataFrame (its columns as the header)."""
    return to_csv([str(c) for c in frame.columns], frame.itertuples(index=False, name=None))
