"""Errors: one root, typed subclasses with a user-facing title and a hint.

The CLI maps them to exit codes; the TUI shows title and message in a notification.
"""

from __future__ import annotations


class OpsdeckError(Exception):
    title = "Error"
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(OpsdeckError):
    """Bad or missing configuration; ``location`` is file:line[:column] when known."""

    title = "Configuration error"
    exit_code = 2

    def __init__(self, message: str, *, location: str | None = None, hint: str | None = None):
        super().__init__(f"{location}: {message}" if location else message, hint=hint)
        self.location = location


class UsageError(OpsdeckError):
    title = "Usage error"
    exit_code = 2


class BackendUnavailable(OpsdeckError):
    """The backend did not answer: names the backend, its address and what to check."""

    title = "Backend unreachable"
    exit_code = 1

    def __init__(self, backend: str, address: str, detail: str, *, hint: str | None = None):
        super().__init__(f"{backend} at {address} is unreachable: {detail}", hint=hint)
        self.backend = backend
        self.address = address


class BackendError(OpsdeckError):
    """The backend answered with an error."""

    title = "Backend error"
    exit_code = 1


class NotAuthorized(BackendError):
    """The backend refused our credentials (401/403); the message names the scope."""

    title = "Not authorized"


class NotFound(OpsdeckError):
    title = "Not found"
    exit_code = 1


class Unsupported(OpsdeckError):
    """The engine lacks the capability; the message says why."""

    title = "Not supported"
    exit_code = 2


class PolicyDenied(OpsdeckError):
    title = "Denied by policy"
    exit_code = 3


class Aborted(OpsdeckError):
    """The operator declined the confirmation."""

    title = "Aborted"
    exit_code = 1


class AuditError(OpsdeckError):
    title = "Audit journal error"
    exit_code = 1


class ApprovalRequired(PolicyDenied):
    """The policy wants a second person: a pending request ``request_id`` was filed."""

    title = "Approval required"

    def __init__(self, message: str, *, request_id: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.request_id = request_id


class IdentityError(OpsdeckError):
    """An ID token was given or stored but could not be verified; the message says why.

    Never carries the token itself. Exit code 3, like a policy denial: nothing is done
    on behalf of an identity that could not be proven.
    """

    title = "Identity not verified"
    exit_code = 3
