"""What a reader may see: the frozen views of a study and its cases, and the rules a reading's record follows.

Why a module of its own: these dataclasses are the whole surface of blinding (:mod:`core.reader_study.session`
hands out nothing else), so none has a field for the ground truth, another reader's answers, the case's
source path or patient key, and :class:`CaseItem` carries AI output only where the phase allows it. The
phases of each design (:data:`PHASES`) are read by the session, the blinding check, the organizer and the
analysis alike; keeping them here lets those modules depend on this one instead of on each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

from core.reader_study.errors import StudyError

PHASES = {"unaided": ("unaided",), "aided": ("aided",), "sequential": ("unaided", "aided")}
MAX_TEXT = 5000


@dataclass(frozen=True)
class StudyView:
    id: int
    name: str
    design: str
    labels: tuple
    positive_label: str
    questions: dict
    allow_changes: bool
    status: str
    done: int
    total: int


@dataclass(frozen=True)
class AIView:
    """The AI output shown in the aided phase (identical for every reader)."""

    probability: float | None
    positive_label: str
    predicted_class: str | None
    rules: dict | None
    overlay: object | None            # RGB uint8 HxWx3 (Grad-CAM overlay of the first image)
    warnings: tuple


@dataclass(frozen=True)
class MyAnswer:
    case_id: int
    number: int
    phase: str
    version: int
    label: str
    confidence: float
    free_text: str
    region: tuple | None
    seconds: float | None
    created: datetime


@dataclass(frozen=True)
class CaseRow:
    """One line of the reader's case list: their own progress only."""

    number: int
    case_id: int
    done: tuple                       # phases answered, in study order
    flagged: bool
    can_open: bool


@dataclass(frozen=True)
class CaseItem:
    """One case in one phase, as the reader sees it."""

    study_id: int
    case_id: int
    number: int                       # 1-based position in this reader's order
    n_cases: int
    phase: str
    images: tuple                     # RGB uint8 arrays (first frame of each image)
    clinical: dict
    ai: AIView | None
    previous: MyAnswer | None
    can_change: bool
    flagged: bool = False


def _naive_utc(t: datetime) -> datetime:
    return t.astimezone(timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def _check_region(region) -> tuple | None:
    if region is None:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in region)
    except (TypeError, ValueError) as exc:
        raise StudyError(f"region {region!r}: give four numbers x0, y0, x1, y1") from exc
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise StudyError(f"region {region!r}: values must be finite")
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _reading_seconds(visible: float | None, since_open: float | None) -> float | None:
    """The stored time of a reading: the measured visible time, never more than the time since opening."""
    if visible is None:
        return since_open
    try:
        value = float(visible)
    except (TypeError, ValueError):
        return since_open
    if not math.isfinite(value) or value < 0:
        return since_open
    return value if since_open is None else min(value, since_open)


def visible_seconds(shown_at: float, now: float, hidden_ms: float | None) -> float:
    """Seconds a case was on screen: from ``shown_at`` to ``now`` (epoch seconds) minus the hidden time."""
    hidden = max(0.0, float(hidden_ms or 0.0)) / 1000.0
    return max(0.0, float(now) - float(shown_at) - hidden)
