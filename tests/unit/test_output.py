"""Output: stable JSON keys, ISO-8601 UTC times, enums as values, aligned tables."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone

import yaml

from console.model import (
    Execution,
    ExecutionDetail,
    ExecutionRef,
    ExecutionStatus,
    PendingActivity,
    StuckHit,
    StuckRule,
)
from console.output import emit, iso, table, to_data

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
EXECUTION = Execution(
    ref=ExecutionRef("temporal", "default", "order/42", "run-1"),
    workflow_type="OrderWorkflow",
    status=ExecutionStatus.RUNNING,
    start_time=T0,
    search_attributes={"CustomerId": "c1"},
)


def test_execution_keys_are_stable() -> None:
    data = to_data(EXECUTION)
    assert list(data) == [
        "ref",
        "engine",
        "namespace",
        "workflow_id",
        "run_id",
        "workflow_type",
        "status",
        "start_time",
        "close_time",
        "task_queue",
        "history_length",
        "deployment_version",
        "search_attributes",
    ]
    assert data["ref"] == "temporal:default/order%2F42/run-1"
    assert data["workflow_id"] == "order/42"
    assert data["status"] == "running"
    assert data["start_time"] == "2026-01-02T03:04:05Z"
    json.dumps(data)


def test_times_are_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert iso(datetime(2026, 1, 2, 5, 0, tzinfo=plus2)) == "2026-01-02T03:00:00Z"
    assert iso(datetime(2026, 1, 2, 5, 0)) == "2026-01-02T05:00:00Z"  # naive = UTC
    assert iso(None) is None


def test_detail_and_stuck_hit() -> None:
    detail = ExecutionDetail(
        execution=EXECUTION,
        pending_activities=(PendingActivity("1", "charge", "scheduled", 7, next_attempt_time=T0),),
    )
    data = to_data(detail)
    assert data["status"] == "running"
    assert data["pending_activities"][0]["attempt"] == 7
    assert data["pending_activities"][0]["next_attempt_time"] == "2026-01-02T03:04:05Z"
    hit = to_data(StuckHit(EXECUTION, StuckRule.ACTIVITY_RETRYING, "attempt 7 >= 5", {"n": 7}))
    assert hit["rule"] == "activity_retrying" and hit["evidence"] == "attempt 7 >= 5"
    assert hit["execution"]["workflow_id"] == "order/42"
    assert to_data(timedelta(minutes=2)) == 120.0


def test_table_is_aligned_and_clips() -> None:
    rows = [{"a": "x", "b": None, "c": True}, {"a": "longer", "b": "y" * 200, "c": [1, 2]}]
    text = table(rows, [("A", "a"), ("B", "b"), ("C", "c")])
    lines = text.splitlines()
    assert lines[0].startswith("A       B")
    assert lines[1].split()[:3] == ["x", "-", "yes"]
    assert "…" in lines[2] and len(lines[2]) < 120
    assert lines[2].endswith("1, 2")
    # every column starts at the same offset on every line
    offset = lines[0].index("C")
    assert lines[1][offset:].startswith("yes") and lines[2][offset:].startswith("1, 2")


def test_emit_formats() -> None:
    rows = [to_data(EXECUTION)]
    out = io.StringIO()
    emit(rows, "json", out=out)
    assert json.loads(out.getvalue())[0]["workflow_id"] == "order/42"
    out = io.StringIO()
    emit(rows, "yaml", out=out)
    assert yaml.safe_load(out.getvalue())[0]["status"] == "running"
    out = io.StringIO()
    emit([], "table", empty="Nothing.", out=out)
    assert out.getvalue() == "Nothing.\n"
    out = io.StringIO()
    emit({"one_key": 1, "other": "x"}, "table", out=out)
    assert out.getvalue() == "one key: 1\nother:   x\n"


def test_json_lists_one_object_per_line() -> None:
    rows = [to_data(EXECUTION), to_data(EXECUTION)]
    out = io.StringIO()
    emit(rows, "json", out=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == 4
    assert json.loads(lines[1].rstrip(","))["workflow_id"] == "order/42"
    assert json.loads(out.getvalue()) == rows


def test_jsonl_is_one_object_per_line_for_lists_and_one_line_for_an_object() -> None:
    rows = [to_data(EXECUTION), {"note": "naïve\nline"}]
    buf = io.StringIO()
    emit(rows, "jsonl", out=buf)
    lines = buf.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == rows  # the newline stays escaped
    assert not buf.getvalue().startswith("[")
    one = io.StringIO()
    emit({"total": 3}, "jsonl", out=one)
    assert one.getvalue() == '{"total": 3}\n'
