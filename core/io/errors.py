"""Typed errors of the input gate.

Why: callers (command line, dashboard, training import) must tell *what* was wrong with an upload without
parsing messages, and every message must be one line that names the file and the problem. All of them are
:class:`core.errors.InputError`, so the command line maps them to exit code 2 and the dashboard to ``st.error``.
"""

from __future__ import annotations

from core.errors import InputError


class GateError(InputError):
    """Base class: the gate refused a file. ``str(err)`` is ``"<name>: <problem>"`` on one line."""

    def __init__(self, name: str, problem: str):
        self.name = str(name)
        self.problem = str(problem)
        super().__init__(f"{self.name}: {self.problem}")


class MissingFileError(GateError):
    """The path does not exist or is not a regular file."""


class EmptyFileError(GateError):
    """Zero bytes."""


class FileTooLargeError(GateError):
    """The file is larger than ``GateLimits.max_file_bytes`` (checked before reading it)."""


class TooManyPixelsError(GateError):
    """Declared width x height (or the frame count) exceeds the limits (checked before decoding)."""


class UnsupportedFormatError(GateError):
    """The content is none of the formats the gate reads (detected from magic bytes, not the name)."""


class CorruptFileError(GateError):
    """The header looked right but decoding failed (truncated, inconsistent or damaged data)."""


class NoPixelDataError(GateError):
    """A DICOM object without an image (e.g. a structured report)."""


class NoFramesError(GateError):
    """A video container that holds no decodable frame."""


class DeidentificationError(GateError):
    """De-identification could not be completed, so the object must not be used or written."""
