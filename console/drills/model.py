"""What a drill is: a declarative description plus inject, check and cleanup functions.

A drill injects a realistic incident into the running sandbox and checks whether the
trainee resolved it. Its functions are synchronous (the CLI calls them directly, the
TUI from thread workers); the ones that talk to Temporal run their own event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.sandbox import SandboxState


@dataclass(frozen=True)
class DrillEnv:
    """Where a drill runs: the sandbox's data dir and state, and this run's unique token
    (every workflow id and message id the drill makes starts with it, so checks count
    only the drill's own)."""

    data_dir: Path
    sandbox: SandboxState
    token: str


@dataclass(frozen=True)
class CheckResult:
    """One check of a drill: ok or what is still wrong, with the numbers behind it."""

    name: str
    ok: bool
    detail: str
    numbers: Mapping[str, Any] = field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "numbers": self.numbers}


Injected = dict[str, Any]  # what inject did, kept in the drill state (JSON)


@dataclass(frozen=True)
class Drill:
    name: str
    title: str
    injects: str  # one sentence: what goes wrong
    runbook: str  # a runbook name under runbooks/
    hints: tuple[str, ...]
    checks: tuple[str, ...]  # what `check` verifies, one sentence each
    default_count: int
    inject: Callable[[DrillEnv, int], Injected]
    check: Callable[[DrillEnv, Injected], list[CheckResult]]
    # Undo what is left of the injection; ``resolved``: the trainee fixed it (only tidy up)
    cleanup: Callable[[DrillEnv, Injected, bool], dict[str, Any]]
    needs_rabbitmq: bool = False

    def to_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "injects": self.injects,
            "runbook": self.runbook,
            "hints": list(self.hints),
            "checks": list(self.checks),
            "default_count": self.default_count,
        }
