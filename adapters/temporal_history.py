"""History events as readable HistoryEvent rows; failures spelled out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent as ProtoEvent

from adapters.temporal_format import (
    camel,
    duration_of,
    enum_text,
    failure_text,
    human_duration,
    payloads_text,
    time_of,
)
from console.model import HistoryEvent

FAILURE_SUFFIXES = ("Failed", "TimedOut")


def event_type_name(event: ProtoEvent) -> str:
    return camel(EventType.Name(event.event_type), "EVENT_TYPE_")


def workflow_task_failed_text(attrs: Any) -> str:
    """'workflow worker unhandled failure: RuntimeError: demo bug…'."""
    cause = enum_text(WorkflowTaskFailedCause.Name(attrs.cause), "WORKFLOW_TASK_FAILED_CAUSE_")
    text = failure_text(attrs.failure) if attrs.HasField("failure") else ""
    return f"{cause}: {text}" if text else cause


def _with(label: str, value: str) -> str:
    return f"{label} {value}" if value else ""


def _started(a: Any) -> str:
    text = f"{a.workflow_type.name} on task queue {a.task_queue.name}"
    return text + (f", input {payloads_text(a.input)}" if a.input.payloads else "")


def _activity_scheduled(a: Any) -> str:
    return f"{a.activity_type.name} (id {a.activity_id}) on task queue {a.task_queue.name}"


def _activity_started(a: Any) -> str:
    text = f"attempt {a.attempt} by {a.identity}"
    if a.HasField("last_failure"):
        text += f"; previous attempt failed: {failure_text(a.last_failure)}"
    return text


def _timer_started(a: Any) -> str:
    fire = duration_of(a, "start_to_fire_timeout")
    return f"timer {a.timer_id}" + (f" for {human_duration(fire)}" if fire else "")


def _by(a: Any) -> str:
    reason = getattr(a, "reason", "") or getattr(a, "cause", "")
    who = getattr(a, "identity", "")
    text = f"reason: {reason}" if reason else ""
    return f"{text} (by {who})" if who and text else (f"by {who}" if who else text)


_SUMMARIES: dict[str, Callable[[Any], str]] = {
    "WorkflowExecutionStarted": _started,
    "WorkflowExecutionCompleted": lambda a: _with("result", payloads_text(a.result)),
    "WorkflowExecutionFailed": lambda a: failure_text(a.failure),
    "WorkflowExecutionTerminated": _by,
    "WorkflowExecutionCancelRequested": _by,
    "WorkflowExecutionSignaled": lambda a: (
        f"signal {a.signal_name}" + (f" input {payloads_text(a.input)}" if a.input.payloads else "")
    ),
    "WorkflowExecutionContinuedAsNew": lambda a: f"continued as run {a.new_execution_run_id}",
    "WorkflowTaskStarted": lambda a: _with("by", a.identity),
    "WorkflowTaskCompleted": lambda a: _with("by", a.identity),
    "WorkflowTaskFailed": workflow_task_failed_text,
    "ActivityTaskScheduled": _activity_scheduled,
    "ActivityTaskStarted": _activity_started,
    "ActivityTaskCompleted": lambda a: _with("result", payloads_text(a.result)),
    "ActivityTaskFailed": lambda a: failure_text(a.failure),
    "ActivityTaskTimedOut": lambda a: failure_text(a.failure),
    "TimerStarted": _timer_started,
    "TimerFired": lambda a: f"timer {a.timer_id} fired",
    "StartChildWorkflowExecutionInitiated": lambda a: (
        f"child {a.workflow_type.name} id {a.workflow_id}"
    ),
    "ChildWorkflowExecutionFailed": lambda a: failure_text(a.failure),
}


def _attributes(event: ProtoEvent) -> Message | None:
    field = event.WhichOneof("attributes")
    return getattr(event, field) if field else None


def convert_event(event: ProtoEvent) -> HistoryEvent:
    kind = event_type_name(event)
    attrs = _attributes(event)
    summary = ""
    if attrs is not None:
        render = _SUMMARIES.get(kind)
        if render is not None:
            summary = render(attrs)
        elif "failure" in attrs.DESCRIPTOR.fields_by_name and attrs.HasField("failure"):
            summary = failure_text(getattr(attrs, "failure"))  # noqa: B009
    details: dict[str, Any] = MessageToDict(attrs) if attrs is not None else {}
    return HistoryEvent(
        event_id=event.event_id,
        time=time_of(event, "event_time"),
        event_type=kind,
        summary=summary,
        is_failure=kind.endswith(FAILURE_SUFFIXES),
        details=details,
    )
