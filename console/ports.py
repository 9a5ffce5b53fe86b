"""Ports: the Protocols every backend adapter implements.

Everything above the adapters speaks only these. Changes are two-phase: ``plan``
turns an ActionRequest into the exact calls (no side effects), ``apply`` performs a
Plan and yields one TargetOutcome per target. Policy, confirmation and audit live in
console.actions, not in adapters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
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
from console.model_chaos import RampState
from console.model_telemetry import (
    Exemplar,
    LogLine,
    MetricSeries,
    Trace,
    TraceSummary,
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


@runtime_checkable
class PagedLister(Protocol):
    """Optional beside WorkflowEngine (which is unchanged): ``list`` a page at a time,
    as the backend sends them, so streaming output (``-o jsonl``) can write and flush
    each page on arrival. Engines without it are read through ``list``."""

    def list_pages(self, query: ListQuery) -> AsyncIterator[Sequence[Execution]]: ...


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


# --- telemetry sources (console.correlate) ----------------------------------------------
# Entry-point group ``opsdeck.sources``; each names a class with ``from_config(name,
# settings, resolve_secret)`` that must not connect. Errors are BackendError /
# BackendUnavailable naming the source.


@runtime_checkable
class TraceSource(Protocol):
    name: str
    kind: str

    async def get_trace(self, trace_id: str) -> Trace | None:
        """The whole trace, or None when the source does not know it."""
        ...

    async def search(
        self, tags: Mapping[str, str], start: datetime, end: datetime, limit: int = 20
    ) -> Sequence[TraceSummary]: ...

    async def close(self) -> None: ...


@runtime_checkable
class MetricSource(Protocol):
    name: str
    kind: str

    async def query_range(
        self, query: str, start: datetime, end: datetime, step: float
    ) -> Sequence[MetricSeries]: ...

    async def query_exemplars(
        self, query: str, start: datetime, end: datetime
    ) -> Sequence[Exemplar]: ...

    async def close(self) -> None: ...


@runtime_checkable
class LogSource(Protocol):
    name: str
    kind: str

    async def find(
        self, needles: Sequence[str], start: datetime, end: datetime, limit: int = 500
    ) -> Sequence[LogLine]:
        """The newest ``limit`` log lines in the window that mention any of ``needles``
        (ids), returned oldest first. Callers that must know whether the result was cut
        ask for one line more than they show."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class VersionRamp(Protocol):
    """Optional beside WorkflowEngine: a guarded rollout (console.rollout) moves new work
    to a version step by step. Temporal: a worker deployment's ramping percentage, then
    the version current at 100; Step Functions: an alias's weights between two versions
    (``deployment`` is ``STATE_MACHINE:ALIAS``).

    Each change takes the routing the caller last saw (``expected``) and refuses, with
    BackendError, if the server shows something else; it returns the routing read back.
    """

    def ramp_call(self, percentage: float) -> str:
        """The API call a step to ``percentage`` makes (for the plan)."""
        ...

    async def version_query(self, deployment: str, version: str) -> str | None:
        """A list query (``ListQuery.raw``) for the executions ``version`` ran, if any."""
        ...

    async def ramp_routing(self, deployment: str, version: str) -> RampState:
        """The routing as a ramp of ``version`` sees it: ``current`` the version serving
        the rest, ``ramping``/``percentage`` the share ``version`` gets."""
        ...

    async def set_ramp(
        self, deployment: str, version: str, percentage: float, expected: RampState
    ) -> RampState: ...

    async def restore_routing(
        self, deployment: str, version: str, previous: str | None, expected: RampState
    ) -> RampState:
        """``previous`` serves everything again; nothing ramps (a ramp's rollback)."""
        ...
