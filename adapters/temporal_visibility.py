"""Visibility queries and list rows, without temporalio (the fast list path imports this).

Rows are the protobuf-JSON form of WorkflowExecutionInfo, exactly as the HTTP API
returns it; the SDK path converts its protobuf messages to the same form, so both
paths share one converter and give identical results.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from console.errors import UsageError
from console.model import Execution, ExecutionRef, ExecutionStatus, ListQuery

_STATUS_TO_QUERY = {
    ExecutionStatus.RUNNING: "Running",
    ExecutionStatus.COMPLETED: "Completed",
    ExecutionStatus.FAILED: "Failed",
    ExecutionStatus.CANCELED: "Canceled",
    ExecutionStatus.TERMINATED: "Terminated",
    ExecutionStatus.CONTINUED_AS_NEW: "ContinuedAsNew",
    ExecutionStatus.TIMED_OUT: "TimedOut",
    ExecutionStatus.PAUSED: "Paused",
}
_STATUS_FROM_PROTO = {f"WORKFLOW_EXECUTION_STATUS_{s.name}": s for s in _STATUS_TO_QUERY} | {
    "WORKFLOW_EXECUTION_STATUS_CANCELED": ExecutionStatus.CANCELED
}
_STATUS_FROM_NUMBER = {
    1: ExecutionStatus.RUNNING,
    2: ExecutionStatus.COMPLETED,
    3: ExecutionStatus.FAILED,
    4: ExecutionStatus.CANCELED,
    5: ExecutionStatus.TERMINATED,
    6: ExecutionStatus.CONTINUED_AS_NEW,
    7: ExecutionStatus.TIMED_OUT,
    8: ExecutionStatus.PAUSED,
}
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEPLOYMENT_VERSION_ATTRIBUTE = "TemporalWorkerDeploymentVersion"
_EMPTY: Mapping[str, Any] = {}  # read-only stand-in for an absent object


def quote(value: str) -> str:
    """A single-quoted visibility-query string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return quote(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def visibility_query(query: ListQuery, *, only_running: bool = False) -> str:
    """Translate a ListQuery into Temporal's SQL-like visibility query."""
    clauses: list[str] = []
    # Stuck detection only looks at open executions, whatever statuses were asked for.
    statuses = (ExecutionStatus.RUNNING,) if only_running else query.statuses
    known = [_STATUS_TO_QUERY[s] for s in statuses if s in _STATUS_TO_QUERY]
    if len(known) == 1:
        clauses.append(f"ExecutionStatus = {quote(known[0])}")
    elif known:
        clauses.append(f"ExecutionStatus IN ({', '.join(quote(s) for s in known)})")
    if query.workflow_type:
        clauses.append(f"WorkflowType = {quote(query.workflow_type)}")
    if query.started_after:
        clauses.append(f"StartTime >= {_timestamp(query.started_after)}")
    if query.started_before:
        clauses.append(f"StartTime < {_timestamp(query.started_before)}")
    if query.closed_after:
        clauses.append(f"CloseTime >= {_timestamp(query.closed_after)}")
    for name, value in sorted(query.search_attributes.items()):
        if not _ATTRIBUTE_NAME.match(name):
            raise UsageError(f"{name!r} is not a search attribute name")
        clauses.append(f"{name} = {quote(value)}")
    if query.raw and query.raw.strip():
        clauses.append(f"({query.raw.strip()})" if clauses else query.raw.strip())
    return " AND ".join(clauses)


# Temporal parses ``select * from table1 where <query>`` and reports a syntax error at
# the tokenizer's position: one past the end of the offending token, in that string.
_PARSED_PREFIX = len("select * from table1 where ")
_SYNTAX_ERROR = re.compile(r"(?:.*: )?syntax error at position (\d+)(?: near '(.*)')?$", re.S)


def rejected_query(error: UsageError, sent: str, raw: str | None) -> UsageError:
    """The server's syntax error, pointed at the user's own query (``raw``).

    opsdeck sends its filters, then ``(raw)``; the server counts positions in the
    combined string, so "position 107" says nothing to the user. This gives the column
    in ``raw`` and the text from there on. Anything else is returned unchanged.
    """
    head, _, message = error.message.partition("temporal rejected the query: ")
    match = _SYNTAX_ERROR.match(message)
    if match is None or head or not raw or not raw.strip():
        return error
    user = raw.strip()
    if sent == user:
        offset = 0
    elif sent.endswith(f"({user})"):
        offset = len(sent) - len(user) - 1
    else:
        return error
    end = int(match.group(1)) - _PARSED_PREFIX - 1  # in ``sent``, just past the token
    token = match.group(2) or ""
    # Without a token, the last character read is the culprit (or the end of the text).
    start = end - len(token) if token else end - 1
    misplaced = bool(token) and sent[start:end].lower() != token.lower()
    if start < offset or end > len(sent) or misplaced:
        return error  # not where we expected: keep the server's own words
    column = start - offset
    lead = len(raw) - len(raw.lstrip())
    if (not token and end >= len(sent)) or column >= len(user):
        where = f"at the end of the query (column {len(user) + lead + 1}): is something missing?"
    else:
        where = f"at column {column + lead + 1} of the query, near {_cut(user[column:])!r}"
    return UsageError(f"temporal rejected the query: syntax error {where}", hint=error.hint)


def _cut(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def workflow_ids_query(workflow_ids: list[str], *, only_running: bool) -> str:
    """Query selecting exactly these workflow ids (used for server-side batch jobs)."""
    ids = ", ".join(quote(w) for w in sorted(set(workflow_ids)))
    text = f"WorkflowId IN ({ids})"
    return f"{text} AND ExecutionStatus = 'Running'" if only_running else text


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def decode_payload(payload: Mapping[str, Any]) -> Any:
    """Decode a protobuf-JSON Payload: JSON values as values, anything else described."""
    metadata = payload.get("metadata") or {}
    encoding = base64.b64decode(metadata.get("encoding", "")).decode(errors="replace")
    data = base64.b64decode(payload.get("data", ""))
    if encoding.startswith("json/"):
        try:
            return json.loads(data)
        except ValueError:
            return data.decode(errors="replace")
    if encoding == "binary/null":
        return None
    return f"<{encoding or 'unknown encoding'}, {len(data)} bytes>"


def status_of(value: object) -> ExecutionStatus:
    if isinstance(value, int):
        return _STATUS_FROM_NUMBER.get(value, ExecutionStatus.UNKNOWN)
    return _STATUS_FROM_PROTO.get(str(value), ExecutionStatus.UNKNOWN)


def execution_from_json(row: Mapping[str, Any], engine: str, namespace: str) -> Execution:
    """One WorkflowExecutionInfo (protobuf JSON) as an Execution."""
    get = row.get  # a list converts 10,000 rows: the common empty parts cost nothing
    ex = get("execution") or _EMPTY
    searched = get("searchAttributes")
    fields = searched.get("indexedFields") if searched else None
    attributes = {name: decode_payload(p) for name, p in fields.items()} if fields else {}
    version = None
    versioning = get("versioningInfo")
    deployment = (versioning.get("deploymentVersion") or _EMPTY) if versioning else _EMPTY
    if deployment.get("buildId"):
        version = f"{deployment.get('deploymentName', '')}:{deployment['buildId']}"
    elif isinstance(attributes.get(DEPLOYMENT_VERSION_ATTRIBUTE), str):
        version = attributes[DEPLOYMENT_VERSION_ATTRIBUTE]
    length = get("historyLength")
    return Execution(
        ref=ExecutionRef(engine, namespace, ex.get("workflowId", ""), ex.get("runId") or None),
        workflow_type=(get("type") or _EMPTY).get("name", ""),
        status=status_of(get("status")),
        start_time=parse_time(get("startTime")),
        close_time=parse_time(get("closeTime")),
        task_queue=get("taskQueue") or None,
        history_length=int(length) if length not in (None, "") else None,
        deployment_version=version,
        search_attributes=attributes,
    )
