"""Readable text from Temporal protobuf messages: failures, payloads, enums, times."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure

MAX_TEXT = 300


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def time_of(message: Message, field: str) -> datetime | None:
    """A Timestamp field as an aware datetime, None when unset."""
    if not message.HasField(field):
        return None
    ts: Timestamp = getattr(message, field)
    return ts.ToDatetime(tzinfo=UTC)


def duration_of(message: Message, field: str) -> timedelta | None:
    if not message.HasField(field):
        return None
    value: Duration = getattr(message, field)
    return value.ToTimedelta()


def human_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d"


def enum_text(name: str, prefix: str) -> str:
    """'PENDING_ACTIVITY_STATE_SCHEDULED' -> 'scheduled'."""
    return name.removeprefix(prefix).lower().replace("_", " ") if name else "unspecified"


def camel(name: str, prefix: str) -> str:
    """'EVENT_TYPE_WORKFLOW_TASK_FAILED' -> 'WorkflowTaskFailed'."""
    return "".join(part.capitalize() for part in name.removeprefix(prefix).split("_"))


def payload_value(payload: Payload) -> Any:
    encoding = payload.metadata.get("encoding", b"").decode(errors="replace")
    if encoding.startswith("json/"):
        try:
            return json.loads(payload.data)
        except ValueError:
            return payload.data.decode(errors="replace")
    if encoding == "binary/null":
        return None
    return f"<{encoding or 'unknown encoding'}, {len(payload.data)} bytes>"


def payloads_text(payloads: Payloads) -> str:
    values = [payload_value(p) for p in payloads.payloads]
    if not values:
        return ""
    shown = values[0] if len(values) == 1 else values
    return clip(json.dumps(shown, default=str, ensure_ascii=False), 120)


def failure_text(failure: Failure) -> str:
    """'GatewayTimeout: payment gateway timed out' plus its causes, one line."""
    parts: list[str] = []
    current: Failure | None = failure
    while current is not None and len(parts) < 4:
        kind = ""
        info = current.WhichOneof("failure_info")
        if info == "application_failure_info":
            kind = current.application_failure_info.type
        elif info == "timeout_failure_info":
            kind = "Timeout " + enum_text(
                _timeout_type_name(current.timeout_failure_info.timeout_type), "TIMEOUT_TYPE_"
            )
        elif info == "activity_failure_info":
            kind = f"Activity {current.activity_failure_info.activity_type.name}"
        elif info == "canceled_failure_info":
            kind = "Canceled"
        elif info == "terminated_failure_info":
            kind = "Terminated"
        message = current.message.strip()
        parts.append(f"{kind}: {message}" if kind and message else kind or message)
        current = current.cause if current.HasField("cause") else None
    return clip(" <- ".join(p for p in parts if p) or "unknown failure")


def _timeout_type_name(value: int) -> str:
    from temporalio.api.enums.v1 import TimeoutType

    return TimeoutType.Name(value)  # type: ignore[arg-type]
