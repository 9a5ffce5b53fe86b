"""Ports: the Protocols every backend adapter implements.

Everything above the adapters speaks only these. Changes are two-phase: ``plan``
turns an ActionRequest into the exact calls (no side effects), ``apply`` performs a
Plan and yields one TargetOutcome per target. Policy, confirmation and audit live in
console.actions, not in adapters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol, runtime_checkable

from console.model import (
    ActionRequest,
    Capability,
    Execution,
    ExecutionDetail,
    ExecutionRef,
    HistoryEvent,
    ListQuery,
    Plan,
    StuckHit,
    StuckRules,
    TargetOutcome,
    Version,
)

ProgressCallback = Callable[[str], None]


@runtime_checkable
class WorkflowEngine(Protocol):
    name: str
    kind: str
    capabilities: frozenset[Capability]

    def describe_capability(self, capability: Capability) -> str | None:
        """None when supported, else one sentence saying why not."""
        ...

    def list(self, query: ListQuery) -> AsyncIterator[Execution]:
        """Executions matching the query, fetched lazily page by page."""
        ...

    async def count(self, query: ListQuery) -> int: ...

    async def describe(self, ref: ExecutionRef) -> ExecutionDetail: ...

    def history(self, ref: ExecutionRef) -> AsyncIterator[HistoryEvent]:
        """Events oldest first, streamed page by page."""
        ...

    def find_stuck(
        self, rules: StuckRules, query: ListQuery | None = None
    ) -> AsyncIterator[StuckHit]: ...

    async def versions(self, workflow: str) -> Sequence[Version]:
        """Versions of a deployable unit (Temporal: a worker deployment name)."""
        ...

    async def plan(self, request: ActionRequest) -> Plan:
        """The exact calls an action will make; no side effects."""
        ...

    def apply(self, plan: Plan, request_id: str) -> AsyncIterator[TargetOutcome]:
        """Perform a plan; ``request_id`` makes a repeated apply idempotent."""
        ...

    async def close(self) -> None: ...


SecretResolver = Callable[[str], str]
"""Turns a secret reference (``keyring:service/name``) into its value."""


class EngineFactory(Protocol):
    """What an ``opsdeck.adapters`` entry point names: a class with ``from_config``.

    Construction must not connect: the first call that needs the backend does, so an
    unreachable engine never slows start-up or blocks the UI.
    """

    @classmethod
    def from_config(
        cls, name: str, settings: dict[str, object], resolve_secret: SecretResolver
    ) -> WorkflowEngine: ...
