"""Exceptions shared by the whole package.

Why: the command line, the dashboard and scripts must tell "the user gave us something bad" (exit code 2,
``st.error``, a one-line message naming file/row/column/limit) apart from "we have a bug" (exit code 1).
Everything that rejects user input raises a subclass of :class:`InputError`.
"""


class SonoDashError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(SonoDashError, ValueError):
    """Bad user input. ``str(err)`` is one line that names the file, row, column or limit at fault."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class AccountError(InputError):
    """Bad account input: a user name, role or password that cannot be accepted."""
