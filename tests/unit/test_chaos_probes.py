"""chaos.probes and chaos.actions over a stub engine (the port, in memory): the math,
the window syntax, and the sentence when an engine lacks the port a provider needs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from chaos import _context as ctx
from chaos import actions, probes
from console.actions.chaos import ChaosRun
from console.audit import AuditJournal
from console.config import Config, Context
from console.errors import Unsupported, UsageError
from console.model import ExecutionStatus, ListQuery
from console.session import Session
from tests.unit.stub_engine import StubEngine


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[tuple[StubEngine, dict[str, str]]]:
    engine = StubEngine()
    context = Context(name="dev", engines=())
    config = Config(path=tmp_path / "c.yaml", contexts={"dev": context}, identity="ci")
    session = Session(config, context, {"stub": engine}, audit=AuditJournal(tmp_path / "a.db"))
    ctx._runs[("unit-run", None, None)] = (session, ChaosRun("unit-run", "unit"))
    try:
        yield engine, {"opsdeck_run_id": "unit-run"}
    finally:
        ctx._runs.pop(("unit-run", None, None), None)


def test_success_rate_is_completed_over_closed(stub: tuple[StubEngine, dict[str, str]]) -> None:
    engine, configuration = stub
    assert probes.success_rate("OrderWorkflow", configuration=configuration) == 1.0
    failed = replace(engine.executions["wf-2"], status=ExecutionStatus.FAILED)
    engine.executions["wf-2"] = failed
    assert probes.success_rate("OrderWorkflow", configuration=configuration) == pytest.approx(2 / 3)


def test_success_rate_is_not_skewed_by_a_run_closing_between_its_counts(
    stub: tuple[StubEngine, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that completes between the two counts (visibility is queried twice) must
    not look like a failure: the closed count is taken again until it is stable."""
    engine, configuration = stub
    running = replace(engine.executions["wf-2"], status=ExecutionStatus.RUNNING)
    engine.executions["wf-2"] = running
    count, calls = engine.count, []

    async def closing_midway(query: ListQuery) -> int:
        calls.append(query.statuses)
        if len(calls) == 2:  # after the first closed count, before the completed one
            engine.executions["wf-2"] = replace(running, status=ExecutionStatus.COMPLETED)
        return await count(query)

    monkeypatch.setattr(engine, "count", closing_midway)
    assert probes.success_rate("OrderWorkflow", configuration=configuration) == 1.0


def test_stuck_count_by_rule(stub: tuple[StubEngine, dict[str, str]]) -> None:
    _, configuration = stub
    assert probes.stuck_count(configuration=configuration) == 1
    assert probes.stuck_count("activity_retrying", configuration=configuration) == 1
    assert probes.stuck_count("workflow_task_failing", configuration=configuration) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), ("10m", timedelta(minutes=10)), (" 2h", timedelta(hours=2))],
)
def test_windows(text: str, expected: timedelta) -> None:
    assert probes.parse_window(text) == expected


@pytest.mark.parametrize("text", ["10", "m", "1w", "1.5h", ""])
def test_bad_windows(text: str) -> None:
    with pytest.raises(UsageError, match="window"):
        probes.parse_window(text)


def test_an_engine_without_the_port_is_named(stub: tuple[StubEngine, dict[str, str]]) -> None:
    _, configuration = stub
    with pytest.raises(Unsupported, match="describes task queues"):
        probes.task_queue_pollers("demo", configuration=configuration)
    with pytest.raises(Unsupported, match="supports worker-deployment ramping"):
        actions.set_ramping_version("orders", "v1", 10, configuration=configuration)
    session, _ = ctx.session_and_run(configuration)
    records = session.audit.list(run_id="unit-run")
    assert [(r.action, r.outcome) for r in records] == [("chaos.set_ramping_version", "failed")]
    with pytest.raises(UsageError, match="no engine 'other'"):
        probes.stuck_count(engine="other", configuration=configuration)
