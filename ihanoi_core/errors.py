"""Typed errors the core raises; the UI and CLI turn each into a sentence for people.

Each exception carries the data needed to explain it, never a pre-formatted message
in one language only.
"""

from __future__ import annotations

from datetime import datetime


class IHanoiError(Exception):
    """Base of every error the core raises on purpose."""


class NotFound(IHanoiError):
    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} not found: {key}")
        self.entity = entity
        self.key = key


class TransitionNotAllowed(IHanoiError):
    """The action does not exist from the report's current status."""

    def __init__(self, action: str, status: str, role: str) -> None:
        super().__init__(f"action {action!r} is not allowed from status {status!r} (role {role})")
        self.action = action
        self.status = status
        self.role = role


class PermissionDenied(IHanoiError):
    """The user's role or unit does not allow this action on this report."""

    def __init__(self, action: str, role: str, reason: str) -> None:
        super().__init__(f"{role} may not {action}: {reason}")
        self.action = action
        self.role = role
        self.reason = reason


class ConflictError(IHanoiError):
    """Someone else changed the report since the user read it; nothing was written."""

    def __init__(
        self,
        report_id: int,
        expected_version: int,
        actual_version: int,
        changed_by: str | None = None,
        changed_at: datetime | None = None,
    ) -> None:
        super().__init__(
            f"report {report_id} changed (version {expected_version} -> {actual_version})"
            f" by {changed_by} at {changed_at}"
        )
        self.report_id = report_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        self.changed_by = changed_by
        self.changed_at = changed_at


class ValidationError(IHanoiError):
    """Input that breaks a rule (missing reason, unknown unit, bad password, ...)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class BoundaryFileError(IHanoiError):
    """A boundary file was rejected; nothing was loaded."""
