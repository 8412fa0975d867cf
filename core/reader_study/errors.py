"""Typed errors of reader studies. Blinding and permission refusals are InputErrors: one line, no traceback."""

from core.errors import InputError


class StudyError(InputError):
    """A study request that cannot be honoured (bad design, unknown study, no cases)."""


class AccessDenied(StudyError):
    """The signed-in user may not see or do this (not assigned, wrong role, blinded information)."""
