"""The list path's fast parts give exactly what the generic ones gave (issue 13):
the compact JSON encoder, the row converter's shortcuts, ISO times, large-body decoding."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from adapters.temporal_http import _BIG_BODY, _loads
from adapters.temporal_visibility import execution_from_json
from console.model import ExecutionStatus
from console.output import (
    compact,
    execution_data,
    iso,
    json_list_text,
    json_text,
    jsonl_text,
    to_data,
)

REFERENCE = json.JSONEncoder(ensure_ascii=False).encode


def _payload(value: Any) -> dict[str, Any]:
    return {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(json.dumps(value).encode()).decode(),
    }


ROW: dict[str, Any] = {
    "execution": {"workflowId": "order/42 ü", "runId": "01a2-run"},
    "type": {"name": "Order"},
    "startTime": "2026-12-03T14:00:30.882768Z",
    "closeTime": "2026-12-03T14:01:00Z",
    "status": "WORKFLOW_EXECUTION_STATUS_TERMINATED",
    "memo": {},
    "searchAttributes": {},
    "taskQueue": "orders",
    "historyLength": "12",
}


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [1.5, None, True, False], "c": {"x": float("nan"), "y": -0.0}},
        {"é": 'ü "quoted" \\ \n \u2028 \x00', "n": 12345678901234567890, "e": 1e300},
        {"nested": [{"k": []}, {}, [[]]], "inf": float("inf")},
        [1, "two", None],
        "just a string ☃",
        42,
        None,
    ],
)
def test_compact_encoder_writes_what_the_json_module_writes(value: Any) -> None:
    assert compact(value) == REFERENCE(value)
    assert jsonl_text([value]) == REFERENCE(value) + "\n"


def test_json_text_of_rows_is_one_object_per_line() -> None:
    rows = [{"a": 1, "b": "ü"}, {"a": 2, "b": None}]
    assert json_text(rows) == "[\n  " + ",\n  ".join(REFERENCE(r) for r in rows) + "\n]\n"


def test_compact_encoder_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact({"when": datetime.now(UTC)})


def test_iso_converts_other_offsets_and_naive_times_to_utc() -> None:
    aware = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert iso(aware) == "2026-01-02T03:04:05Z"
    assert iso(datetime(2026, 1, 2, 3, 4, 5, 123)) == "2026-01-02T03:04:05.000123Z"
    assert iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    assert iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)) == "2026-01-02T03:04:05Z"  # noqa: UP017


def test_a_bare_row_converts_as_before() -> None:
    data = execution_data(execution_from_json(ROW, "temporal", "default"))
    assert data == {
        "ref": "temporal:default/order%2F42%20%C3%BC/01a2-run",
        "engine": "temporal",
        "namespace": "default",
        "workflow_id": "order/42 ü",
        "run_id": "01a2-run",
        "workflow_type": "Order",
        "status": "terminated",
        "start_time": "2026-12-03T14:00:30.882768Z",
        "close_time": "2026-12-03T14:01:00Z",
        "task_queue": "orders",
        "history_length": 12,
        "deployment_version": None,
        "search_attributes": {},
    }


def test_search_attributes_and_versioning_still_convert() -> None:
    row = ROW | {
        "searchAttributes": {"indexedFields": {"CustomerId": _payload("c1"), "N": _payload(3)}},
        "versioningInfo": {"deploymentVersion": {"deploymentName": "orders", "buildId": "b7"}},
    }
    execution = execution_from_json(row, "temporal", "default")
    assert execution.search_attributes == {"CustomerId": "c1", "N": 3}
    assert execution.deployment_version == "orders:b7"
    assert execution_data(execution)["search_attributes"] == {"CustomerId": "c1", "N": 3}
    by_attribute = ROW | {
        "searchAttributes": {
            "indexedFields": {"TemporalWorkerDeploymentVersion": _payload("orders:b6")}
        },
        "versioningInfo": {},
    }
    assert execution_from_json(by_attribute, "t", "d").deployment_version == "orders:b6"


def test_an_empty_row_converts_to_unknowns() -> None:
    execution = execution_from_json({}, "temporal", "default")
    assert execution.status is ExecutionStatus.UNKNOWN
    assert execution.ref.workflow_id == "" and execution.ref.run_id is None
    assert to_data(execution)["search_attributes"] == {}


def test_large_bodies_decode_as_json_does() -> None:
    rows = [ROW | {"execution": {"workflowId": f"w{i}", "runId": f"r{i}"}} for i in range(400)]
    raw = json.dumps({"executions": rows, "nextPageToken": "abc"}).encode()
    assert len(raw) > _BIG_BODY
    assert _loads(raw) == json.loads(raw)
    for bad in (b"{" + b" " * _BIG_BODY, b"x" * (_BIG_BODY + 1)):
        with pytest.raises(ValueError):
            _loads(bad)


def test_a_list_of_encoded_rows_is_the_json_text_of_the_rows() -> None:
    rows = [{"a": 1, "b": "ü"}, {"a": 2, "b": None}]
    assert json_list_text([compact(r) for r in rows]) == json_text(rows)
    assert json_list_text([]) == json_text([]) == "[]\n"
