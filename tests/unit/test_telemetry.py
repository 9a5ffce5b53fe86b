"""OpenTelemetry spans of opsdeck's own actions: joined to the incident's trace, off by default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from console import telemetry
from console.config import parse_config
from console.errors import ConfigError, UsageError
from console.model import ActionKind, ActionRequest, Outcome

from .test_actions import make_runner, refs

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    yield memory
    telemetry.configure({"export": "none"})


async def test_apply_spans_join_the_incident_trace(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    assert telemetry.configure({"export": "console"}, span_exporter=exporter)
    runner, _, _ = make_runner(tmp_path)
    request = ActionRequest(
        ActionKind.TERMINATE, refs("wf-0", "wf-2"), reason="stuck", params={"email": "a@b.c"}
    )
    plan = await runner.plan("stub", request)
    report = await runner.apply(plan, traceparent=TRACEPARENT)
    assert report.exit_code == 0
    spans = exporter.get_finished_spans()
    assert len(spans) == 3
    assert {format(s.context.trace_id, "032x") for s in spans} == {TRACE_ID}
    root = next(s for s in spans if s.name == "opsdeck terminate")
    assert root.parent is not None and format(root.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert root.attributes is not None
    assert root.attributes["opsdeck.request_id"] == report.request_id
    assert "a@b.c" not in str(root.attributes["opsdeck.parameters"])
    assert json.loads(str(root.attributes["opsdeck.parameters"]))["email"] == "***"
    targets = [s for s in spans if s.name == "opsdeck terminate target"]
    assert {s.attributes["opsdeck.target"] for s in targets if s.attributes} == set(plan.targets)
    assert all(s.parent and s.parent.span_id == root.context.span_id for s in targets)
    assert all(
        s.attributes and s.attributes["opsdeck.outcome"] == Outcome.OK.value for s in targets
    )


async def test_traceparent_from_the_environment(
    tmp_path: Path, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    telemetry.configure({"export": "console"}, span_exporter=exporter)
    monkeypatch.setenv("TRACEPARENT", TRACEPARENT)
    runner, _, _ = make_runner(tmp_path)
    plan = await runner.plan("stub", ActionRequest(ActionKind.CANCEL, refs("wf-0")))
    await runner.apply(plan)
    assert {format(s.context.trace_id, "032x") for s in exporter.get_finished_spans()} == {TRACE_ID}


async def test_nothing_exported_when_off(tmp_path: Path, exporter: InMemorySpanExporter) -> None:
    assert not telemetry.configure({"export": "none"}, span_exporter=exporter)
    runner, _, _ = make_runner(tmp_path)
    plan = await runner.plan("stub", ActionRequest(ActionKind.TERMINATE, refs("wf-0")))
    report = await runner.apply(plan, traceparent=TRACEPARENT)
    assert report.exit_code == 0
    assert exporter.get_finished_spans() == ()


async def test_bad_traceparent_is_a_usage_error(tmp_path: Path) -> None:
    runner, engine, _ = make_runner(tmp_path)
    plan = await runner.plan("stub", ActionRequest(ActionKind.TERMINATE, refs("wf-0")))
    with pytest.raises(UsageError, match="traceparent"):
        await runner.apply(plan, traceparent="00-nothex-01")
    assert engine.applied == []


def test_config_telemetry_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    config = parse_config("telemetry:\n  export: otlp-http\n  endpoint: http://c:4318\n", path)
    assert config.telemetry == {"export": "otlp-http", "endpoint": "http://c:4318"}
    assert parse_config("contexts: {}\n", path).telemetry == {}
    with pytest.raises(ConfigError) as err:
        parse_config("contexts: {}\ntelemetry:\n  export: jaeger\n", path)
    assert err.value.location == f"{path}:3" and "telemetry.export" in err.value.message
    with pytest.raises(ConfigError) as err:
        parse_config("telemetry:\n  export: none\n  colour: red\n", path)
    assert err.value.location == f"{path}:3"


def _imports(tmp_path: Path, *argv: str) -> str:
    config = tmp_path / "config.yaml"
    config.write_text(
        "telemetry: {export: console}\ncurrent-context: dev\ncontexts:\n  dev:\n"
        "    engines: [{kind: temporal, address: '127.0.0.1:9'}]\n"
    )
    env = dict(os.environ, OPSDECK_CONFIG=str(config), TRACEPARENT=TRACEPARENT)
    code = "import sys; from console.cli import main; sys.argv[1:] = sys.argv[2:]; main()"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, "x", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return done.stderr


def test_version_and_list_do_not_import_opentelemetry(tmp_path: Path) -> None:
    for argv in (("--version",), ("executions", "list")):
        imported = _imports(tmp_path, *argv)
        assert "import time:" in imported
        assert "opentelemetry" not in imported, argv


async def test_environment_ignored_when_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    telemetry.configure({"export": "none"})
    monkeypatch.setenv("TRACEPARENT", "garbage")
    runner, engine, _ = make_runner(tmp_path)
    plan = await runner.plan("stub", ActionRequest(ActionKind.TERMINATE, refs("wf-0")))
    assert (await runner.apply(plan)).exit_code == 0
    assert len(engine.applied) == 1
