"""Typed errors of the store: bad names and unknown records are the user's input, so they are InputErrors."""

from core.errors import InputError


class StoreError(InputError):
    """A store request that cannot be honoured (bad name, bad cases table)."""


class NotFoundError(StoreError):
    """The named evaluation, bundle or run is not in the store."""
