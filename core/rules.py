"""The CRL / FHR rules clinicians use today to predict miscarriage (DeVilbiss et al.), as an editable table.

Why a table and not constants: the rule thresholds are per completed gestational week and differ between
publications; a researcher must be able to edit them, and every stored evaluation keeps the exact table it was
computed with (``to_dict`` / ``from_dict`` round-trip through JSON). Default (DESIGN.md section 1):

    week 6: FHR <= 122 bpm low, CRL <= 6.0 mm small
    week 7: FHR <= 123 bpm low, CRL <= 8.5 mm small
    week 8: FHR <= 158 bpm low, CRL <= 10.9 mm small

A value *at or below* the threshold is low/small. Gestational age in decimal weeks maps to the completed week
``floor(ga)`` (6.9 weeks is week 6). Outside the table's weeks the rules are *not applicable*, and with a
missing value the flag is ``None``: the rules never guess. The combined rule "CRL+HR" (``both_low``) follows
three-valued logic: False as soon as one known flag is False, None when it cannot be decided.

This module imports nothing heavy, so ``python -m core rules`` and page code can use it cheaply.

>>> apply_rules(6.4, crl_mm=5.0, fhr_bpm=130)
{'applicable': True, 'crl_low': True, 'fhr_low': False, 'both_low': False}
>>> apply_rules(9.0, crl_mm=5.0)["applicable"]
False
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from core.errors import InputError

FHR_KEY = "fhr_low_max_bpm"
CRL_KEY = "crl_small_max_mm"


class RuleTableError(InputError):
    """A rule table (dict or JSON) is malformed; the message names the week and key."""


def _threshold(value, *, week, key):
    if value is None:
        return None
    if isinstance(value, bool):
        raise RuleTableError(f"rule table week {week}: {key} = {value!r} is not a number")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise RuleTableError(f"rule table week {week}: {key} = {value!r} is not a number") from None
    if not math.isfinite(v) or v <= 0:
        raise RuleTableError(f"rule table week {week}: {key} = {value!r} must be a positive number")
    return v


@dataclass(frozen=True)
class RuleTable:
    """Per completed gestational week: the highest FHR (bpm) that is low and the largest CRL (mm) that is small.

    ``rows`` maps an int week to ``{"fhr_low_max_bpm": float|None, "crl_small_max_mm": float|None}``; a None
    threshold means that rule is not defined for that week.
    """

    rows: dict = field(default_factory=dict)
    name: str = "custom"
    source: str = ""

    def __post_init__(self):
        clean = {}
        for week, row in dict(self.rows).items():
            try:
                w = int(week)
            except (TypeError, ValueError):
                raise RuleTableError(f"rule table week {week!r} is not a whole number of weeks") from None
            if str(week).strip() not in (str(w), f"{w}.0") or not 1 <= w <= 45:
                raise RuleTableError(f"rule table week {week!r} must be a whole number of weeks in 1..45")
            if not isinstance(row, dict):
                raise RuleTableError(f"rule table week {w}: expected {{{FHR_KEY!r}: .., {CRL_KEY!r}: ..}}")
            unknown = set(row) - {FHR_KEY, CRL_KEY}
            if unknown:
                raise RuleTableError(f"rule table week {w}: unknown key(s) {sorted(unknown)!r}")
            clean[w] = {FHR_KEY: _threshold(row.get(FHR_KEY), week=w, key=FHR_KEY),
                        CRL_KEY: _threshold(row.get(CRL_KEY), week=w, key=CRL_KEY)}
        if not clean:
            raise RuleTableError("rule table has no weeks")
        object.__setattr__(self, "rows", dict(sorted(clean.items())))

    @property
    def weeks(self) -> tuple[int, ...]:
        return tuple(self.rows)

    def row(self, week: int) -> dict | None:
        """Thresholds of a completed week, or None when the table does not cover it."""
        return self.rows.get(int(week))

    def to_dict(self) -> dict:
        """JSON-ready form (week keys as strings), what the store keeps with each evaluation."""
        return {"name": self.name, "source": self.source,
                "weeks": {str(w): dict(r) for w, r in self.rows.items()}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "RuleTable":
        """Accept ``{"name", "source", "weeks": {week: {...}}}`` or a bare ``{week: {...}}`` mapping."""
        if not isinstance(data, dict):
            raise RuleTableError(f"rule table must be a JSON object, got {type(data).__name__}")
        if "weeks" in data:
            extra = set(data) - {"name", "source", "weeks"}
            if extra:
                raise RuleTableError(f"rule table: unknown key(s) {sorted(extra)!r}")
            return cls(rows=data["weeks"], name=str(data.get("name", "custom")), source=str(data.get("source", "")))
        return cls(rows=data)

    @classmethod
    def from_json(cls, text: str) -> "RuleTable":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise RuleTableError(f"rule table is not valid JSON: line {err.lineno}, column {err.colno}: "
                                 f"{err.msg}") from None
        return cls.from_dict(data)


DEFAULT_RULE_TABLE = RuleTable(
    rows={6: {FHR_KEY: 122, CRL_KEY: 6.0}, 7: {FHR_KEY: 123, CRL_KEY: 8.5}, 8: {FHR_KEY: 158, CRL_KEY: 10.9}},
    name="devilbiss",
    source="DeVilbiss et al.; thresholds as used by the miscarriage study (DESIGN.md section 1)",
)


def _measure(value, *, name: str, unit: str, high: float):
    """None for a missing value (None or NaN); else a validated positive float."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"{name} = {value!r} is not a number")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} = {value!r} is not a number") from None
    if math.isnan(v):
        return None
    if not math.isfinite(v) or v < 0 or v > high:
        raise InputError(f"{name} = {value!r} {unit} is outside 0..{high:g} {unit}")
    return v


def completed_week(ga_weeks) -> int | None:
    """``floor(ga)``: 6.0-6.99 weeks is completed week 6. None for a missing age.

    >>> completed_week(7.99)
    7
    """
    ga = _measure(ga_weeks, name="ga_weeks", unit="weeks", high=45.0)
    return None if ga is None else int(math.floor(ga))


def _and3(a, b):
    """Kleene AND: False wins, then None (unknown), else True."""
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def apply_rules(ga_weeks, crl_mm=None, fhr_bpm=None, table: RuleTable = DEFAULT_RULE_TABLE) -> dict:
    """Apply the CRL and FHR rules of ``table`` for the completed gestational week.

    Parameters
    ----------
    ga_weeks : float
        Gestational age in decimal weeks (e.g. 6.43); missing (None/NaN) makes the rules not applicable.
    crl_mm, fhr_bpm : float or None
        Crown-rump length (mm) and fetal heart rate (bpm); None/NaN = not measured.
    table : RuleTable

    Returns
    -------
    dict
        ``applicable`` (bool: the week is in the table), ``crl_low``, ``fhr_low``, ``both_low``
        (bool, or None where a value or threshold is missing or the rules do not apply).

    Examples
    --------
    >>> apply_rules(8.2, fhr_bpm=158)
    {'applicable': True, 'crl_low': None, 'fhr_low': True, 'both_low': None}
    """
    if not isinstance(table, RuleTable):
        raise InputError(f"table must be a RuleTable, got {type(table).__name__}")
    week = completed_week(ga_weeks)
    crl = _measure(crl_mm, name="crl_mm", unit="mm", high=200.0)
    fhr = _measure(fhr_bpm, name="fhr_bpm", unit="bpm", high=400.0)
    row = None if week is None else table.row(week)
    if row is None:
        return {"applicable": False, "crl_low": None, "fhr_low": None, "both_low": None}
    crl_low = None if crl is None or row[CRL_KEY] is None else bool(crl <= row[CRL_KEY])
    fhr_low = None if fhr is None or row[FHR_KEY] is None else bool(fhr <= row[FHR_KEY])
    return {"applicable": True, "crl_low": crl_low, "fhr_low": fhr_low, "both_low": _and3(crl_low, fhr_low)}


def apply_rules_frame(df, *, ga: str = "ga_weeks", crl: str = "crl_mm", fhr: str = "fhr_bpm",
                      table: RuleTable = DEFAULT_RULE_TABLE):
    """:func:`apply_rules` on every row of a DataFrame (absent columns count as missing values).

    Returns a DataFrame with columns ``applicable, crl_low, fhr_low, both_low`` (object dtype: True, False or
    None), indexed like ``df``. A bad value raises InputError naming the row's ``row`` column when present.
    """
    import pandas as pd

    out = []
    for pos, (_, rec) in enumerate(df.iterrows()):
        try:
            out.append(apply_rules(rec.get(ga), rec.get(crl), rec.get(fhr), table=table))
        except InputError as err:
            where = f"row {rec['row']}" if "row" in rec else f"record {pos}"
            raise InputError(f"{where}: {err}") from None
    return pd.DataFrame(out, index=df.index, columns=["applicable", "crl_low", "fhr_low", "both_low"],
                        dtype=object)
