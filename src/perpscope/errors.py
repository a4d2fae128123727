"""Typed errors. Each carries what a user needs to act on it."""

from __future__ import annotations


class PerpscopeError(Exception):
    """Base of perpscope's own errors."""


class DecodeError(PerpscopeError, ValueError):
    """A venue message could not be turned into normalized events (bad JSON, missing field, bad number)."""


class UnknownChannel(DecodeError):
    """A well-formed message on a channel the decoder does not handle."""


class InputFileError(PerpscopeError, ValueError):
    """A bad row or header in a file being imported; names the file and line."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class GapDetected(PerpscopeError):
    """A sequence gap in a venue stream (order book or otherwise)."""


class StoreError(PerpscopeError):
    """The embedded store cannot do what was asked (read-only, bad SQL, missing data)."""
