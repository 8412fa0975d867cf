"""Tables of the reader studies (migrations 0002 and 0003a).

Why these tables: a study's cases carry their ground truth and a cached AI output next to each other, but the
reader-facing API (:mod:`core.reader_study.session`) reads only the columns a reader may see. The AI output
is computed once per case and kept here, so every reader of a study sees exactly the same probability,
overlay and rules. Answers are append-only: a permitted change inserts a new version (with who and when),
nothing is ever updated or deleted, so the history of every reading can be audited.

The accounts and access tables (``users``, ``auth_sessions``, ``login_throttle``, ``audit_events``) are the
store's (:mod:`core.store.users_schema`): every page uses them, not only reader studies. Their classes are
re-exported here for older callers; new code imports them from the store.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from core.store.schema import Base, utcnow
from core.store.users_schema import AuditEvent, AuthSession, LoginThrottle, User

__all__ = ["Answer", "AuditEvent", "AuthSession", "CaseAI", "CaseFlag", "CaseOpen", "LoginThrottle", "ReaderStudy",
           "StudyCase", "StudyReader", "User"]   # the four store classes re-exported for older callers


class ReaderStudy(Base):
    """A study: its design, questions and the task whose default model gives the AI output."""

    __tablename__ = "reader_studies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    task: Mapped[str] = mapped_column(String(100))
    design: Mapped[str] = mapped_column(String(20))
    labels: Mapped[list] = mapped_column(JSON)
    positive_label: Mapped[str] = mapped_column(String(200))
    questions: Mapped[dict] = mapped_column(JSON, default=dict)
    allow_changes: Mapped[bool] = mapped_column(Boolean, default=False)
    seed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="open")
    source: Mapped[dict] = mapped_column(JSON, default=dict)
    bundle_path: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StudyCase(Base):
    """One case of a study: what the reader sees (images, clinical values) and the hidden truth."""

    __tablename__ = "study_cases"
    __table_args__ = (UniqueConstraint("study_id", "position", name="uq_study_cases_position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("reader_studies.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    case_key: Mapped[str] = mapped_column(String(500))
    images: Mapped[list] = mapped_column(JSON)
    clinical: Mapped[dict] = mapped_column(JSON, default=dict)
    truth: Mapped[str] = mapped_column(String(200))


class CaseAI(Base):
    """The AI output of one case, computed once and shown to every reader in the aided phase."""

    __tablename__ = "study_case_ai"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("study_cases.id", ondelete="CASCADE"), unique=True)
    probability: Mapped[float | None] = mapped_column(Float)
    probabilities: Mapped[dict | None] = mapped_column(JSON)
    predicted_class: Mapped[str | None] = mapped_column(String(200))
    rules: Mapped[dict | None] = mapped_column(JSON)
    overlay_png: Mapped[bytes | None] = mapped_column(LargeBinary)
    model: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list] = mapped_column(JSON, default=list)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StudyReader(Base):
    """A reader assigned to a study, with their own case order (from the study seed and the reader id)."""

    __tablename__ = "study_readers"
    __table_args__ = (UniqueConstraint("study_id", "user_id", name="uq_study_readers"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("reader_studies.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    case_order: Mapped[list] = mapped_column(JSON)


class CaseOpen(Base):
    """When a reader first opened a case in a phase: the start of the time per case."""

    __tablename__ = "study_case_opens"
    __table_args__ = (UniqueConstraint("case_id", "user_id", "phase", name="uq_study_case_opens"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("study_cases.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    phase: Mapped[str] = mapped_column(String(20))
    opened: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Answer(Base):
    """One version of one reader's answer to one case in one phase (append-only)."""

    __tablename__ = "reader_answers"
    __table_args__ = (UniqueConstraint("case_id", "user_id", "phase", "version", name="uq_reader_answers"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("reader_studies.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("study_cases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    phase: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[float] = mapped_column(Float)
    free_text: Mapped[str] = mapped_column(Text, default="")
    region: Mapped[list | None] = mapped_column(JSON)
    seconds: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)





class CaseFlag(Base):
    """A reader's flag on a case in one phase ("come back to this one"); toggled, not versioned."""

    __tablename__ = "study_case_flags"
    __table_args__ = (UniqueConstraint("case_id", "user_id", "phase", name="uq_study_case_flags"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("study_cases.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    phase: Mapped[str] = mapped_column(String(20))
    flagged: Mapped[bool] = mapped_column(Boolean, default=True)
