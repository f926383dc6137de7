"""The error tree every layer raises; faces translate it (HTTP status, CLI exit code)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One wrong value, named by where it sits (``events[3].email``, ``line 12: email``)."""

    field: str
    message: str


class NurtureError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems: list[FieldProblem] = problems or []


class InvalidInput(NurtureError):
    """Raised when input breaks a rule; ``problems`` names every wrong field."""

    code = "invalid_input"


class TooLarge(InvalidInput):
    """Raised when a batch or payload is over its documented limit."""

    code = "too_large"


class NotFound(NurtureError):
    """Raised when the named thing does not exist (or was erased)."""

    code = "not_found"


class Conflict(NurtureError):
    """Raised when the change would break a uniqueness rule (an email already in use)."""

    code = "conflict"


class Unauthenticated(NurtureError):
    """Raised when no valid credential was presented."""

    code = "unauthenticated"


class PermissionDenied(NurtureError):
    """Raised when the credential is valid but its scopes do not allow the action."""

    code = "forbidden"


class ConfigurationError(NurtureError):
    """Raised when settings are missing or unsafe (a placeholder secret in production)."""

    code = "configuration"
