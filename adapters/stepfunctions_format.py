"""Step Functions shapes -> opsdeck model: ARNs, statuses, executions, history events.

ExecutionRef choice: ``ENGINE:SCOPE/EXECUTION_NAME`` where SCOPE is the state machine
name (for a Map Run child execution: ``STATE_MACHINE/MAP_RUN_LABEL``, percent-encoded
in the string form). Execution names are unique per state machine and a redrive keeps
the same ARN, so no run id is needed: the ref and the execution ARN map one to one
(``arn:...:execution:SCOPE:NAME``), given the account and region of the state machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from console.model import Execution, ExecutionRef, ExecutionStatus, HistoryEvent

STATUS_IN = {
    "RUNNING": ExecutionStatus.RUNNING,
    "SUCCEEDED": ExecutionStatus.COMPLETED,
    "FAILED": ExecutionStatus.FAILED,
    "TIMED_OUT": ExecutionStatus.TIMED_OUT,
    "ABORTED": ExecutionStatus.TERMINATED,  # StopExecution ends a run at once
    # A Map Run child waiting for its parent's redrive to reach it: open, not running.
    "PENDING_REDRIVE": ExecutionStatus.PAUSED,
}
STATUS_OUT = {
    ExecutionStatus.RUNNING: "RUNNING",
    ExecutionStatus.COMPLETED: "SUCCEEDED",
    ExecutionStatus.FAILED: "FAILED",
    ExecutionStatus.TIMED_OUT: "TIMED_OUT",
    ExecutionStatus.TERMINATED: "ABORTED",
    ExecutionStatus.CANCELED: "ABORTED",
    ExecutionStatus.PAUSED: "PENDING_REDRIVE",
}
_FAILURE_SUFFIXES = ("Failed", "TimedOut", "Aborted", "StartFailed", "SubmitFailed")
_WAIT_TOKEN = ".waitForTaskToken"


def execution_arn(machine_arn: str, scope: str, name: str) -> str:
    """arn:aws:states:R:A:stateMachine:SM[:qualifier] + scope + name -> execution ARN."""
    parts = machine_arn.split(":")
    prefix = ":".join(parts[:5])
    return f"{prefix}:execution:{scope}:{name}"


def machine_arn_base(arn: str) -> str:
    """Strip an alias or version qualifier: ...:stateMachine:NAME."""
    parts = arn.split(":")
    return ":".join(parts[:7])


def machine_name(arn: str) -> str:
    return arn.split(":")[6]


def qualifier(arn: str | None) -> str | None:
    """The alias name or version number of a qualified state machine ARN."""
    if not arn:
        return None
    parts = arn.split(":")
    return parts[7] if len(parts) > 7 else None


def scope_and_name(exec_arn: str) -> tuple[str, str]:
    """execution ARN -> (scope, execution name); scope is SM or SM/MAP_RUN_LABEL."""
    rest = exec_arn.split(":execution:", 1)[-1]
    rest = rest.split(":express:", 1)[-1]
    scope, _, name = rest.rpartition(":")
    return scope, name


def is_express(exec_arn: str) -> bool:
    return ":express:" in exec_arn


def as_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def execution_from(row: Mapping[str, Any], engine: str) -> Execution:
    scope, name = scope_and_name(str(row["executionArn"]))
    raw_status = str(row.get("status", ""))
    # "MACHINE:ALIAS" or "MACHINE:VERSION" (like Temporal's "deployment:build"), so the
    # execution view finds the versions of MACHINE and can roll its alias back.
    q = qualifier(row.get("stateMachineAliasArn")) or qualifier(row.get("stateMachineVersionArn"))
    version = f"{scope.split('/', 1)[0]}:{q}" if q else None
    attributes: dict[str, Any] = {"executionArn": row["executionArn"], "status": raw_status}
    for key in ("redriveCount", "redriveDate", "mapRunArn", "stateMachineAliasArn",
                "stateMachineVersionArn", "itemCount"):  # fmt: skip
        if row.get(key) is not None:
            value = row[key]
            attributes[key] = value.isoformat() if isinstance(value, datetime) else value
    return Execution(
        ref=ExecutionRef(engine, scope, name),
        workflow_type=scope.split("/", 1)[0],
        status=STATUS_IN.get(raw_status, ExecutionStatus.UNKNOWN),
        start_time=as_utc(row.get("startDate")),
        close_time=as_utc(row.get("stopDate")),
        deployment_version=version,
        search_attributes=attributes,
    )


def event_details(event: Mapping[str, Any]) -> dict[str, Any]:
    """The one ``...EventDetails`` member of a history event (empty if none)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            return dict(value)
    return {}


def failure_text(details: Mapping[str, Any]) -> str | None:
    error, cause = details.get("error"), details.get("cause")
    if not error and not cause:
        return None
    return f"{error or 'error'}: {cause}" if cause else str(error)


def convert_event(event: Mapping[str, Any]) -> HistoryEvent:
    kind = str(event.get("type", ""))
    details = event_details(event)
    failure = failure_text(details)
    if failure:
        summary = failure
    elif "name" in details:
        summary = str(details["name"])
    elif "resource" in details:
        summary = f"{details.get('resourceType', '')}:{details['resource']}".lstrip(":")
    else:
        summary = ""
    return HistoryEvent(
        event_id=int(event.get("id", 0)),
        time=as_utc(event.get("timestamp")),
        event_type=kind,
        summary=summary,
        is_failure=kind.endswith(_FAILURE_SUFFIXES) or failure is not None,
        details=details,
    )


@dataclass(frozen=True)
class OpenTask:
    """A task the execution waits on: an activity or a callback (task token)."""

    kind: str  # "activity" or "callback"
    state: str  # state name
    resource: str
    since: datetime | None
    started: bool


def open_task(newest_first: Sequence[Mapping[str, Any]]) -> OpenTask | None:
    """The activity/callback task the newest events show as open, if any.

    Looks at the newest events only: a task is open when its Scheduled/Started event is
    newer than any event that closes it. (In a Parallel state another branch's newer
    events can hide a waiting task; the no_progress rule still covers that case.)
    """
    state = ""
    for event in newest_first:
        details = event_details(event)
        if "name" in details and str(event.get("type", "")).endswith("StateEntered"):
            state = str(details["name"])
            break
    for event in newest_first:
        kind = str(event.get("type", ""))
        details = event_details(event)
        if kind in ("ActivityScheduled", "ActivityStarted"):
            resource = str(details.get("resource", ""))
            started = kind == "ActivityStarted"
            return OpenTask("activity", state, resource, as_utc(event.get("timestamp")), started)
        if kind in ("TaskScheduled", "TaskStarted", "TaskSubmitted"):
            resource = str(details.get("resource", ""))
            if resource.endswith(_WAIT_TOKEN):
                since = as_utc(event.get("timestamp"))
                return OpenTask("callback", state, resource, since, kind != "TaskScheduled")
            return None
        if kind.endswith(("Succeeded", "Failed", "TimedOut", "Exited", "Aborted")):
            return None
    return None
