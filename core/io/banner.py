"""Burned-in text removal for ultrasound: configurable banner rectangles per manufacturer and model.

Why rectangles and not OCR: ultrasound scanners burn patient name, ID and dates into fixed screen regions
(mostly the top banner). A rectangle list per device is predictable, auditable and fast, and it is applied to
every frame. The default blanks the top 8 % of rows, where most scanners print the patient banner; a site
adds rules for its devices in a JSON file:

    [{"manufacturer": "ACME", "model": "Sono 5", "rects": [[0.0, 0.0, 0.1, 1.0], [0.9, 0.7, 1.0, 1.0]]}]

Each rect is ``[top, left, bottom, right]`` as fractions of the rows and columns. Matching is case-insensitive:
``manufacturer`` is a substring of the DICOM Manufacturer, ``model`` equals ManufacturerModelName; an empty
field matches anything. The first matching rule wins; the default rule comes last.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError

Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class BannerRule:
    rects: tuple[Rect, ...]
    manufacturer: str = ""
    model: str = ""

    def matches(self, manufacturer: str, model: str) -> bool:
        man_ok = not self.manufacturer or self.manufacturer.lower() in (manufacturer or "").lower()
        model_ok = not self.model or self.model.strip().lower() == (model or "").strip().lower()
        return man_ok and model_ok


DEFAULT_RULE = BannerRule(rects=((0.0, 0.0, 0.08, 1.0),))


def _rect(value, where: str) -> Rect:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise InputError(f"{where}: a rect is [top, left, bottom, right], got {value!r}")
    try:
        top, left, bottom, right = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: rect values must be numbers, got {value!r}") from None
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in (top, left, bottom, right)) \
            or top >= bottom or left >= right:
        raise InputError(f"{where}: rect {value!r} must be fractions 0..1 with top < bottom and left < right")
    return (top, left, bottom, right)


def parse_rules(data, *, source: str = "banner rules") -> tuple[BannerRule, ...]:
    """Validate a JSON-like list of rules; the default rule is appended as the fallback."""
    if not isinstance(data, list):
        raise InputError(f"{source}: expected a JSON list of rules")
    rules = []
    for i, item in enumerate(data):
        where = f"{source}, rule {i + 1}"
        if not isinstance(item, dict) or "rects" not in item or not isinstance(item["rects"], list):
            raise InputError(f"{where}: a rule needs a 'rects' list")
        rects = tuple(_rect(r, where) for r in item["rects"])
        rules.append(BannerRule(rects=rects, manufacturer=str(item.get("manufacturer") or ""),
                                model=str(item.get("model") or "")))
    return tuple(rules) + (DEFAULT_RULE,)


def load_rules(path: str | Path) -> tuple[BannerRule, ...]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{p.name}: cannot read banner rules ({type(err).__name__})") from None
    return parse_rules(data, source=p.name)


def rects_for(manufacturer: str, model: str, rules: tuple[BannerRule, ...] | None = None) -> tuple[Rect, ...]:
    for rule in rules or (DEFAULT_RULE,):
        if rule.matches(manufacturer, model):
            return rule.rects
    return DEFAULT_RULE.rects


def pixel_box(rect: Rect, height: int, width: int) -> tuple[int, int, int, int]:
    """Fractions -> pixel bounds (row0, col0, row1, col1); rounded outwards so text on an edge is covered."""
    top, left, bottom, right = rect
    return (int(math.floor(top * height)), int(math.floor(left * width)),
            int(math.ceil(bottom * height)), int(math.ceil(right * width)))


def apply_banner(frames: np.ndarray, rects: tuple[Rect, ...]) -> np.ndarray:
    """Zero every rect in every frame of ``frames`` (N, H, W[, C]), in place; returns ``frames``."""
    height, width = frames.shape[1], frames.shape[2]
    for rect in rects:
        r0, c0, r1, c1 = pixel_box(rect, height, width)
        frames[:, r0:r1, c0:c1, ...] = 0
    return frames
