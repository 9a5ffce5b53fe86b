"""Turn backend exceptions into text for the status bar and notifications.

Everything returned is plain text; callers escape it before it meets markup.
"""

from __future__ import annotations

from console.errors import BackendUnavailable, OpsdeckError, Unsupported


def short_state(exc: BaseException, timeout: float | None = None) -> str:
    """A few words for the status bar, e.g. ``unreachable (connection refused)``."""
    if isinstance(exc, TimeoutError):
        return f"unreachable (no answer within {timeout:g}s)" if timeout else "unreachable"
    if isinstance(exc, BackendUnavailable):
        detail = exc.message.split(" is unreachable: ", 1)[-1]
        return f"unreachable ({detail})"
    if isinstance(exc, Unsupported):
        return f"not supported ({exc.message})"
    if isinstance(exc, OpsdeckError):
        return f"error ({exc.message})"
    return f"error ({type(exc).__name__}: {exc})"


def explain(engine: str, exc: BaseException, timeout: float | None = None) -> tuple[str, str]:
    """(title, message) for a notification: names the engine and what to check."""
    if isinstance(exc, TimeoutError):
        return (
            f"{engine}: unreachable",
            f"{engine} did not answer within {timeout:g}s; "
            "is the server running? check the address in the context",
        )
    if isinstance(exc, OpsdeckError):
        text = str(exc) if exc.hint else exc.message
        return f"{engine}: {exc.title}", text
    return f"{engine}: unexpected error", f"{type(exc).__name__}: {exc}"
