"""Start, signal and inspect durable runs (the CLI side of console.runbook.durable).

A durable run is an ordinary journaled run plus one transcript note written before the
workflow starts (``durable: workflow W on task queue Q``): the note travels with the
journal wherever it is stored, so no side table is needed to tell durable runs apart.

Context keys (docs/runbooks.md, "Durable runs"): ``runbook-task-queue`` (default
opsdeck-runbooks), ``runbook-engine`` (which temporal engine hosts the workflows when
the context has several), ``runbook-heartbeat`` (how soon a dead worker's step is
retried elsewhere, default 15s), ``runbook-recheck`` (how often a run waiting for a
policy approval looks again, default 60s).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from console.errors import BackendError, ConfigError, UsageError
from console.runbook.durable.types import WORKFLOW_NAME, Answer, DurableStart
from console.runbook.schema import parse_duration

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

    from console.config import Context
    from console.runbook.journal import RunJournal, RunRecord, StepRecord
    from console.session import Session

DEFAULT_TASK_QUEUE = "opsdeck-runbooks"
DEFAULT_HEARTBEAT_SECONDS = 15.0
DEFAULT_RECHECK_SECONDS = 60.0
_NOTE = re.compile(r"^durable: workflow (\S+) on task queue (\S+) \(engine (\S+)\)$")


class _Connected(Protocol):
    async def connection(self) -> Any: ...


@dataclass(frozen=True)
class DurableInfo:
    workflow_id: str
    task_queue: str
    engine: str

    def as_dict(self) -> dict[str, str]:
        return {
            "workflow_id": self.workflow_id,
            "task_queue": self.task_queue,
            "engine": self.engine,
        }


def workflow_id(run_id: str) -> str:
    return f"opsdeck-runbook-{run_id}"


def _setting(context: Context, key: str) -> Any:
    extra = context.extra
    return extra.get(key, extra.get(key.replace("-", "_")))


def task_queue(context: Context, override: str | None = None) -> str:
    return str(override or _setting(context, "runbook-task-queue") or DEFAULT_TASK_QUEUE)


def _seconds(context: Context, key: str, default: float) -> float:
    raw = _setting(context, key)
    if raw is None:
        return default
    window = parse_duration(str(raw))
    if window is None or window.total_seconds() < 1:
        raise ConfigError(f"contexts.{context.name}.{key}: {raw!r} is not a duration of 1s or more")
    return window.total_seconds()


def heartbeat_seconds(context: Context) -> float:
    return _seconds(context, "runbook-heartbeat", DEFAULT_HEARTBEAT_SECONDS)


def recheck_seconds(context: Context) -> float:
    """How often a run waiting for a policy approval looks whether it was granted."""
    return _seconds(context, "runbook-recheck", DEFAULT_RECHECK_SECONDS)


def host_engine(session: Session) -> str:
    """The temporal engine of the context that runs durable runbooks."""
    named = _setting(session.context, "runbook-engine")
    temporal = [n for n, e in session.engines.items() if e.kind == "temporal"]
    if named:
        if named not in temporal:
            raise ConfigError(
                f"contexts.{session.context.name}.runbook-engine: {named!r} is not a temporal "
                f"engine of the context (temporal engines: {', '.join(temporal) or 'none'})"
            )
        return str(named)
    if not temporal:
        raise UsageError(
            f"context {session.context.name!r} has no temporal engine to run durable runbooks on"
        )
    if len(temporal) > 1:
        raise ConfigError(
            f"context {session.context.name!r} has several temporal engines "
            f"({', '.join(temporal)}): set runbook-engine to the one that runs runbooks"
        )
    return temporal[0]


async def client_for(session: Session, engine: str) -> Client:
    """The engine's connected SDK client (the adapter's connection: same TLS, API key)."""
    connected: _Connected = session.engines[engine]  # type: ignore[assignment]
    connection = await connected.connection()
    client: Client = connection.client
    return client


def durable_info(journal: RunJournal, run_id: str) -> DurableInfo | None:
    for note in journal.transcript(run_id)[:5]:  # written right after "run started"
        match = _NOTE.match(note["text"])
        if match:
            return DurableInfo(*match.groups())
    return None


def mark_durable(journal: RunJournal, run_id: str, queue: str, engine: str) -> DurableInfo:
    info = DurableInfo(workflow_id(run_id), queue, engine)
    journal.note(
        run_id, f"durable: workflow {info.workflow_id} on task queue {queue} (engine {engine})"
    )
    return info


async def start_workflow(
    client: Client, info: DurableInfo, start: DurableStart
) -> WorkflowHandle[Any, Any]:
    """Start (or, for a closed one, start again) the run's workflow; a running one is kept."""
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
    from temporalio.service import RPCError

    try:
        return await client.start_workflow(
            WORKFLOW_NAME,
            start,
            id=info.workflow_id,
            task_queue=info.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except RPCError as exc:
        raise BackendError(
            f"temporal: cannot start workflow {info.workflow_id}: {exc.message}"
        ) from None


async def is_open(client: Client, info: DurableInfo) -> bool:
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    try:
        described = await client.get_workflow_handle(info.workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise BackendError(f"temporal: {exc.message}") from None
    return described.status == WorkflowExecutionStatus.RUNNING


async def send_answer(client: Client, info: DurableInfo, answer: Answer) -> None:
    from temporalio.service import RPCError

    try:
        await client.get_workflow_handle(info.workflow_id).signal("answer", answer)
    except RPCError as exc:
        raise BackendError(
            f"temporal: cannot signal workflow {info.workflow_id}: {exc.message}",
            hint=f"if the run's workflow ended, `opsdeck runbook resume {answer.run_id}` "
            "starts it again",
        ) from None


async def poke(client: Client, info: DurableInfo) -> None:
    from temporalio.service import RPCError

    try:
        await client.get_workflow_handle(info.workflow_id).signal("resume")
    except RPCError as exc:
        raise BackendError(
            f"temporal: cannot signal workflow {info.workflow_id}: {exc.message}"
        ) from None


async def query_waiting(client: Client, info: DurableInfo) -> dict[str, Any] | None:
    """What the workflow says the run waits on (with the plan); None if no worker answers."""
    import asyncio

    try:
        found = await asyncio.wait_for(
            client.get_workflow_handle(info.workflow_id).query("waiting"), timeout=5
        )
    except Exception:  # no worker to answer the query, or the workflow closed
        return None
    return dict(found) if isinstance(found, dict) else None


def waiting_of(run: RunRecord, steps: dict[str, StepRecord]) -> dict[str, Any] | None:
    """What a run waits on, from the journal alone (local or durable; no plan)."""
    from console.runbook.loader import parse_runbook

    if run.status != "waiting" or run.cursor is None:
        return None
    record = steps.get(run.cursor)
    if record is None or record.state != "waiting":
        return None
    step = parse_runbook(run.source, run.path).step(run.cursor)
    kind = {"decision": "decision", "manual": "manual", "approval": "approval"}.get(step.kind)
    choices: list[str] = list(step.choices) if step.kind == "decision" else []
    if step.kind == "manual":
        choices = ["done"]
    if step.kind == "action":
        policy = f"{step.id}:policy-approval" in run.answers and "policy approval" in record.message
        kind = "approval" if policy else "confirm"
        choices = [] if policy else ["yes", "no"]
    return {
        "step": step.id,
        "kind": kind,
        "prompt": record.message,
        "choices": choices,
        "plan": None,
    }
