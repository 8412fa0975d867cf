"""Tables of the SonoDash store (SQLAlchemy 2 declarative).

Why these tables and no statistics table: every statistic (AUC, sensitivity, CIs, subgroup results) is
recomputed from the stored per-case predictions (DESIGN.md section 3), so a metric added next year applies to
every old evaluation. Runs and bundles are indexed here so the dashboard can list them; the files themselves
stay on disk. ``saved_cases`` holds what a clinician chose to keep from an analysis, never a patient
identifier. Schema changes go through Alembic revisions in ``migrations/versions`` only: never
``create_all``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timestamps in UTC, timezone-aware when read back on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    """Shared metadata; later tables (reader study) declare themselves on it too."""


class Run(Base):
    """A training run: where its files are and how far it got."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task: Mapped[str] = mapped_column(String(100), index=True)
    arch: Mapped[str] = mapped_column(String(100))
    cv: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="running")
    run_dir: Mapped[str] = mapped_column(Text)
    bundle_id: Mapped[int | None] = mapped_column(ForeignKey("bundles.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Bundle(Base):
    """A model bundle directory (model.safetensors + model.json) known to the dashboard."""

    __tablename__ = "bundles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text, unique=True)
    task: Mapped[str] = mapped_column(String(100), index=True)
    arch: Mapped[str | None] = mapped_column(String(100))
    class_names: Mapped[list] = mapped_column(JSON, default=list)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    is_default_for_task: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Migration 0003m (models): "not better than chance" runs are registered flagged; a deleted model keeps its
    # row (its evaluations still name it) with ``deleted`` set and its folder removed.
    flag: Mapped[str | None] = mapped_column(String(200))
    flag_reason: Mapped[str | None] = mapped_column(Text)
    deleted: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Evaluation(Base):
    """One evaluation of a model (or of the rules) on a set of cases."""

    __tablename__ = "evaluations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    task: Mapped[str] = mapped_column(String(100), index=True)
    bundle_id: Mapped[int | None] = mapped_column(ForeignKey("bundles.id", ondelete="SET NULL"))
    manifest_fingerprint: Mapped[str | None] = mapped_column(String(128))
    rule_table: Mapped[dict | None] = mapped_column(JSON)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Prediction(Base):
    """One case of an evaluation: truth, model output, rule outputs and the fields subgroups are built from."""

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("evaluation_id", "case_id", name="uq_predictions_case"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(String(500))
    patient_id: Mapped[str] = mapped_column(String(200))
    truth: Mapped[str | None] = mapped_column(String(200))
    truth_index: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)        # positive-class probability (binary tasks)
    scores: Mapped[list | None] = mapped_column(JSON)         # per-class probabilities, in class_names order
    rule_applicable: Mapped[bool | None] = mapped_column(Boolean)
    crl_low: Mapped[bool | None] = mapped_column(Boolean)
    fhr_low: Mapped[bool | None] = mapped_column(Boolean)
    both_low: Mapped[bool | None] = mapped_column(Boolean)
    fold: Mapped[int | None] = mapped_column(Integer)
    subgroups: Mapped[dict] = mapped_column(JSON, default=dict)  # plane, ga_weeks, crl_mm, ... (no identifiers)


class SavedCase(Base):
    """An analysis a clinician chose to keep: the outcome and their decision, never who the patient is."""

    __tablename__ = "saved_cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study: Mapped[str] = mapped_column(String(100), index=True)
    bundle_id: Mapped[int | None] = mapped_column(ForeignKey("bundles.id", ondelete="SET NULL"))
    bundle_name: Mapped[str | None] = mapped_column(String(200))
    probability: Mapped[float | None] = mapped_column(Float)
    decision: Mapped[str | None] = mapped_column(String(100))
    override: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    rules: Mapped[dict | None] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Revision 0003c (clinician corrections, core/store/cases.py): a pseudonymous case key (never a name or a
    # hospital number), who saved it, the clinician's own decision, what the AI said, the saved images with
    # their (corrected) masks as files under $SONODASH_HOME/cases, and the calipers placed.
    case_key: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str | None] = mapped_column(String(100))
    clinician_decision: Mapped[str | None] = mapped_column(String(200))
    ai_output: Mapped[dict | None] = mapped_column(JSON)
    images: Mapped[list | None] = mapped_column(JSON)
    calipers: Mapped[list | None] = mapped_column(JSON)


Index("ix_predictions_patient", Prediction.evaluation_id, Prediction.patient_id)
