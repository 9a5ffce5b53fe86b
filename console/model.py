"""Domain types shared by every layer: frozen dataclasses, no I/O.

Adapters translate their backend's shapes into these; the CLI, TUI, actions and
runbooks only ever see these.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

# What quote(safe="") leaves alone: ids made only of these skip it (a 10,000-row list
# formats 20,000 of them; quote is ~10x the cost of this match).
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _quoted(text: str) -> str:
    return text if _UNRESERVED.fullmatch(text) else quote(text, safe="")


class ExecutionStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    TERMINATED = "terminated"
    CONTINUED_AS_NEW = "continued_as_new"
    TIMED_OUT = "timed_out"
    PAUSED = "paused"
    UNKNOWN = "unknown"

    @property
    def is_open(self) -> bool:
        return self in (ExecutionStatus.RUNNING, ExecutionStatus.PAUSED)


class Capability(enum.StrEnum):
    """What an engine can do; the UI and runbooks hide or refuse the rest."""

    LIST = "list"
    COUNT = "count"
    DESCRIBE = "describe"
    HISTORY = "history"
    FIND_STUCK = "find_stuck"
    RETRY = "retry"
    CANCEL = "cancel"
    TERMINATE = "terminate"
    SIGNAL = "signal"
    VERSIONS = "versions"
    ROLLBACK = "rollback"
    BATCH = "batch"


class ActionKind(enum.StrEnum):
    RETRY = "retry"
    CANCEL = "cancel"
    TERMINATE = "terminate"
    SIGNAL = "signal"
    ROLLBACK = "rollback"

    @property
    def capability(self) -> Capability:
        return Capability(self.value)


class RefError(ValueError):
    """A string that is not an execution reference."""


@dataclass(frozen=True, order=True)
class ExecutionRef:
    """Stable address of one run: ``engine:scope/workflow_id[/run_id]``.

    ``engine`` is the engine's name in the context (by default its kind, e.g.
    ``temporal``), ``scope`` the namespace (Temporal), region/state machine (AWS) or
    workflow (Logic Apps). ``/`` and ``%`` inside the workflow id are percent-encoded
    so the string form always parses back; without a run id it means the latest run.
    """

    engine: str
    scope: str
    workflow_id: str
    run_id: str | None = None

    def __str__(self) -> str:
        text = f"{self.engine}:{_quoted(self.scope)}/{_quoted(self.workflow_id)}"
        return f"{text}/{self.run_id}" if self.run_id else text

    @property
    def latest(self) -> ExecutionRef:
        """The same workflow without a run id: whatever run is newest."""
        return ExecutionRef(self.engine, self.scope, self.workflow_id)

    @classmethod
    def parse(cls, text: str) -> ExecutionRef:
        engine, sep, rest = text.partition(":")
        parts = rest.split("/")
        if not sep or not engine or len(parts) not in (2, 3) or not all(parts):
            raise RefError(
                f"{text!r} is not an execution reference; expected "
                "ENGINE:SCOPE/WORKFLOW_ID[/RUN_ID], e.g. temporal:default/order-42"
            )
        run_id = parts[2] if len(parts) == 3 else None
        return cls(engine, unquote(parts[0]), unquote(parts[1]), run_id)


@dataclass(frozen=True)
class Execution:
    """One row of an execution list."""

    ref: ExecutionRef
    workflow_type: str
    status: ExecutionStatus
    start_time: datetime | None = None
    close_time: datetime | None = None
    task_queue: str | None = None
    history_length: int | None = None
    deployment_version: str | None = None
    search_attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingActivity:
    activity_id: str
    activity_type: str
    state: str
    attempt: int
    maximum_attempts: int | None = None  # 0: the retry policy has no limit; None: unknown
    last_failure: str | None = None
    next_attempt_time: datetime | None = None
    last_heartbeat_time: datetime | None = None
    last_started_time: datetime | None = None
    last_worker_identity: str | None = None


@dataclass(frozen=True)
class PendingWorkflowTask:
    state: str
    attempt: int
    scheduled_time: datetime | None = None
    original_scheduled_time: datetime | None = None


@dataclass(frozen=True)
class ExecutionDetail:
    execution: Execution
    pending_activities: tuple[PendingActivity, ...] = ()
    pending_workflow_task: PendingWorkflowTask | None = None
    last_failure: str | None = None
    build_id: str | None = None
    memo: Mapping[str, Any] = field(default_factory=dict)
    parent: ExecutionRef | None = None
    # Time of the newest history event; "no progress" is measured from it.
    last_event_time: datetime | None = None


@dataclass(frozen=True)
class HistoryEvent:
    event_id: int
    time: datetime | None
    event_type: str
    summary: str
    is_failure: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ListQuery:
    """Engine-neutral filter; ``raw`` is passed through in the engine's own syntax."""

    statuses: tuple[ExecutionStatus, ...] = ()
    workflow_type: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    # Closed at or after (Temporal: CloseTime); engines that cannot filter on it list
    # more, and callers that need it exact (console.triage) also check close_time.
    closed_after: datetime | None = None
    search_attributes: Mapping[str, str] = field(default_factory=dict)
    raw: str | None = None
    limit: int | None = None
    page_size: int = 1000


class StuckRule(enum.StrEnum):
    ACTIVITY_RETRYING = "activity_retrying"
    WORKFLOW_TASK_FAILING = "workflow_task_failing"
    NO_PROGRESS = "no_progress"
    NO_POLLERS = "no_pollers"
    # Step Functions: an activity or callback (task token) task open longer than T.
    WAITING_ON_TASK = "waiting_on_task"
    # Step Functions: a Map Run of the execution has failed items.
    MAP_ITEMS_FAILED = "map_items_failed"


@dataclass(frozen=True)
class StuckRules:
    """Thresholds for find_stuck; each rule can be switched off by listing others."""

    activity_attempts: int = 5
    # 6: Temporal reports a failing workflow task in visibility from attempt 6
    # (TemporalReportedProblems): the default needs no describe per execution for it.
    workflow_task_attempts: int = 6
    no_progress: timedelta = timedelta(minutes=30)
    enabled: frozenset[StuckRule] = frozenset(StuckRule)
    # Opt-in heuristic (engines that can): a delayed start not yet due has no workflow
    # task, unless a signal-with-start woke it early; such a one is then missed.
    skip_not_due: bool = False


@dataclass(frozen=True)
class StuckHit:
    execution: Execution
    rule: StuckRule
    evidence: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Version:
    """One deployable version of a workflow (Temporal: a worker-deployment version)."""

    deployment: str
    version: str
    is_current: bool = False
    ramping_percentage: float | None = None
    created_time: datetime | None = None
    status: str | None = None


@dataclass(frozen=True)
class ActionRequest:
    """What the operator asked for, before the engine turns it into a Plan."""

    kind: ActionKind
    targets: tuple[ExecutionRef, ...] = ()
    reason: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedCall:
    """One call the engine will make; ``target`` is the string the audit records."""

    target: str
    call: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """The exact targets and calls of an action; shown before anything changes."""

    request: ActionRequest
    engine: str
    calls: tuple[PlannedCall, ...]
    batch: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(c.target for c in self.calls)


class Outcome(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    SUBMITTED = "submitted"  # accepted by a server-side batch job


@dataclass(frozen=True)
class TargetOutcome:
    target: str
    outcome: Outcome
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
