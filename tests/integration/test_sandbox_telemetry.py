"""The sandbox's telemetry end to end: `opsdeck sandbox up` in a temp data dir, then
`opsdeck correlate demo-stuck-activity -o json` returns execution events, spans from the
demo Jaeger store, log lines from the demo Loki store and metric samples from the real
Prometheus (installed by `make test`; missing in CI is a failure)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from console.sandbox import _alive
from console.sandbox.demo_stores import jaeger_trace, loki_query_range
from tests.integration.telemetry_double import local_fixture, official_fixture

pytestmark = pytest.mark.integration

OPSDECK = str(Path(sys.executable).parent / "opsdeck")


def opsdeck(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPSDECK, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_correlate_the_stuck_demo_across_all_sources(tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus") is not None
    if os.environ.get("CI") == "true":
        assert prometheus, "prometheus must be installed in CI (make prometheus-bin)"
    data_dir = tmp_path / "data" / "opsdeck" / "sandbox"
    up = opsdeck("sandbox", "up")
    try:
        assert up.returncode == 0, up.stderr
        config = yaml.safe_load((tmp_path / "config" / "opsdeck" / "config.yaml").read_text())
        kinds = {s["kind"] for s in config["contexts"]["sandbox"]["sources"]}
        assert {"jaeger", "loki"} <= kinds
        assert ("prometheus" in kinds) == prometheus
        assert "Traces/logs: http://127.0.0.1:" in up.stdout
        wanted = {"event", "span", "log"} | ({"sample", "exemplar"} if prometheus else set())
        deadline = time.monotonic() + 120
        while True:  # spans are batched, Prometheus scrapes every second
            done = opsdeck("correlate", "demo-stuck-activity", "-o", "json")
            assert done.returncode == 0, done.stderr
            result: dict[str, Any] = json.loads(done.stdout)
            seen = {item["kind"] for item in result["timeline"]}
            if wanted <= seen:
                break
            assert time.monotonic() < deadline, (seen, result["sources"])
            time.sleep(2)
        assert all(s["status"] == "ok" for s in result["sources"]), result["sources"]
        (trace_id,) = result["trace_ids"]
        spans = [i for i in result["timeline"] if i["kind"] == "span"]
        assert {s["trace_id"] for s in spans} == {trace_id}
        assert any("call_payment_gateway" in s["summary"] for s in spans)
        logs = [i for i in result["timeline"] if i["kind"] == "log"]
        assert any("workflow_id=demo-stuck-activity" in line["summary"] for line in logs)
        if prometheus:
            marks = [i for i in result["timeline"] if i["kind"] == "exemplar"]
            assert marks and all(m["details"]["matches"] for m in marks)
        # An id that nothing knows: no unrelated metrics, exit 1 with one line saying so.
        unknown = opsdeck("correlate", "nosuch-thing", "-o", "json")
        assert unknown.returncode == 1, unknown.stdout + unknown.stderr
        (reason,) = [line for line in unknown.stderr.splitlines() if "nothing found" in line]
        assert reason.startswith("opsdeck: nothing found for 'nosuch-thing'")
        nothing = json.loads(unknown.stdout)
        assert nothing["found"] is False and nothing["timeline"] == []
        status = opsdeck("sandbox", "status")
        assert "Traces/logs: http://127.0.0.1:" in status.stdout
        assert ("Prometheus:  http://127.0.0.1:" in status.stdout) == prometheus
    finally:
        down = opsdeck("sandbox", "down")
    assert down.returncode == 0, down.stderr
    parts = json.loads((data_dir / "telemetry.json").read_text())
    assert not _alive(int(parts["stores_pid"]), "demo_stores")
    if prometheus:
        assert not _alive(int(parts["prometheus_pid"]), "prometheus")


def test_demo_store_payloads_have_the_official_shapes(tmp_path: Path) -> None:
    trace = "0af7651916cd43dd8448eb211c80319c"
    spans = [
        {"trace_id": trace, "span_id": "b7ad6b7169203331", "parent_id": None, "name": "a",
         "start_ns": 1_000_000_000, "end_ns": 1_500_000_000, "error": False, "attributes": {}},
        {"trace_id": trace, "span_id": "00f067aa0ba902b7", "parent_id": "b7ad6b7169203331",
         "name": "b", "start_ns": 1_100_000_000, "end_ns": 1_200_000_000, "error": True,
         "attributes": {"temporalWorkflowID": "wf"}},
    ]  # fmt: skip
    (tmp_path / "spans.jsonl").write_text("".join(json.dumps(s) + "\n" for s in spans))
    logs = {"ts_ns": 5, "labels": {"service": "s", "level": "info"}, "line": "id=wf-1 ok"}
    (tmp_path / "logs.jsonl").write_text(json.dumps(logs) + "\n")

    official = official_fixture("jaeger/v1-trace-ui_01.json")
    doc = jaeger_trace(tmp_path, trace)
    assert doc is not None and jaeger_trace(tmp_path, "1" * 32) is None
    (one,) = doc["data"]
    assert set(one) == set(official)
    assert all(set(span) == set(official["spans"][0]) for span in one["spans"])
    assert one["spans"][1]["references"][0]["refType"] == "CHILD_OF"
    assert {"key": "error", "type": "bool", "value": True} in one["spans"][1]["tags"]
    assert set(one["processes"]["p1"]) == set(official["processes"]["p1"])

    loki_official = local_fixture("loki-query_range-streams.json")
    found = loki_query_range(tmp_path, '{service="s"} |~ "wf\\\\-1|x"', 0, 10, 100, True)
    assert found["status"] == loki_official["status"]
    assert found["data"]["resultType"] == loki_official["data"]["resultType"]
    (stream,) = found["data"]["result"]
    assert set(stream) == set(loki_official["data"]["result"][0])
    assert stream["values"] == [["5", "id=wf-1 ok"]]
    assert loki_query_range(tmp_path, '{service="other"}', 0, 10, 100, True)["data"]["result"] == []
    with pytest.raises(ValueError):
        loki_query_range(tmp_path, 'sum(rate({service="s"}[1m]))', 0, 10, 100, True)
