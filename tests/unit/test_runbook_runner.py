"""RunbookRunner against the stub engine: decisions, approvals, when, timeouts, resume."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from console.audit import AuditJournal
from console.config import Config, Context
from console.errors import PolicyDenied
from console.model import ListQuery
from console.runbook.journal import RunJournal
from console.runbook.loader import parse_runbook
from console.runbook.runner import RunbookRunner, approve
from console.session import Session

from .stub_engine import StubEngine

BOOK = """\
name: t
title: Test
engines: [stub]
parameters:
  threshold: {type: int, default: 0}
steps:
  - id: find
    kind: check
    text: Find stuck.
    query: find_stuck
  - id: decide
    kind: decision
    text: Decide.
    question: Retry them?
    choices: {retry: gate, skip: end}
  - id: gate
    kind: approval
    text: A second person approves.
  - id: retry
    kind: action
    text: Retry.
    when: steps.find.count > params.threshold
    action: retry
    targets: "{{ steps.find.refs }}"
  - id: after
    kind: check
    text: Count.
    query: count
    args: {status: [running]}
"""


class SlowStub(StubEngine):
    async def count(self, query: ListQuery) -> int:
        await asyncio.sleep(5)
        return 0

    async def list(self, query: ListQuery) -> AsyncIterator:  # type: ignore[override]
        async for e in super().list(query):
            yield e


def make(tmp_path: Path, engine: StubEngine | None = None, identity: str = "alice") -> Session:
    engine = engine or StubEngine()
    config = Config(path=tmp_path / "c.yaml", contexts={}, identity=identity)
    context = Context(name="dev", engines=())
    audit = AuditJournal(tmp_path / "audit.db")
    return Session(config, context, {"stub": engine}, audit=audit)


@pytest.fixture(autouse=True)
def _no_env_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPSDECK_IDENTITY", raising=False)


async def test_decision_then_approval_by_second_identity_then_action(tmp_path: Path) -> None:
    session = make(tmp_path)
    journal = RunJournal(tmp_path / "runs.db")
    book = parse_runbook(BOOK, "t.yaml")
    runner = RunbookRunner.start(session, journal, book, {})
    progress = await runner.advance()
    assert progress.status == "waiting" and progress.waiting is not None
    assert progress.waiting.kind == "decision" and progress.waiting.step == "decide"
    assert progress.steps["find"].result["refs"] == ["stub:default/wf-0/run-0"]

    runner.answer("decide", "retry")
    progress = await runner.advance()
    assert progress.waiting is not None and progress.waiting.kind == "approval"
    run_id = progress.run.id
    with pytest.raises(PolicyDenied, match="cannot approve"):
        approve(journal, run_id, "gate", "alice")  # the one who started it
    assert (await runner.advance()).waiting.kind == "approval"  # type: ignore[union-attr]
    approve(journal, run_id, "gate", "bob")

    # resume in a "new process": a fresh runner from the journal
    runner = RunbookRunner.resume(session, journal, run_id)
    progress = await runner.advance()
    assert progress.waiting is not None and progress.waiting.kind == "confirm"
    assert progress.waiting.plan is not None
    assert progress.waiting.plan["targets"] == ["stub:default/wf-0/run-0"]
    runner.answer("retry", "yes")
    progress = await runner.advance()
    assert progress.status == "done", progress.run.message
    assert progress.steps["gate"].result == {"approved_by": "bob"}
    assert progress.steps["retry"].result["done"] == 1
    assert progress.steps["after"].result["count"] == 2
    records = session.audit.list(run_id=run_id)
    assert [r.target for r in records] == ["stub:default/wf-0/run-0"]
    assert records[0].identity == "alice"


async def test_decision_end_and_when_false_skips(tmp_path: Path) -> None:
    session = make(tmp_path)
    journal = RunJournal(tmp_path / "runs.db")
    book = parse_runbook(BOOK, "t.yaml")
    runner = RunbookRunner.start(session, journal, book, {}, answers={"decide": "skip"})
    progress = await runner.advance()
    assert progress.status == "done"
    assert set(progress.steps) == {"find", "decide"}

    runner = RunbookRunner.start(
        session, journal, book, {"threshold": "5"}, answers={"decide": "retry"}
    )
    approve(journal, runner.run.id, "gate", "carol")
    progress = await runner.advance()
    assert progress.status == "done"
    assert progress.steps["retry"].state == "skipped"
    assert "steps.find.count > params.threshold" in progress.steps["retry"].message
    engine = session.engines["stub"]
    assert isinstance(engine, StubEngine) and engine.applied == []


async def test_bad_decision_answer_fails_the_step(tmp_path: Path) -> None:
    session = make(tmp_path)
    journal = RunJournal(tmp_path / "runs.db")
    runner = RunbookRunner.start(
        session, journal, parse_runbook(BOOK, "t.yaml"), {}, answers={"decide": "maybe"}
    )
    progress = await runner.advance()
    assert progress.status == "failed"
    assert "not one of: retry, skip" in progress.run.message


TIMEOUT_BOOK = """\
name: t2
title: Timeouts
steps:
  - id: slow
    kind: check
    text: Slow.
    query: count
    timeout: 100ms
    on-failure: {goto: fallback}
  - id: never
    kind: manual
    text: Skipped by the goto.
  - id: fallback
    kind: check
    text: Expect fails, continue.
    query: list
    expect: result.count == 0
    on-failure: continue
  - id: last
    kind: check
    text: Expect fails, stop.
    query: list
    args: {status: running}
    expect: "result.by_version['x'] == 1"
"""


async def test_timeout_goto_continue_and_stop(tmp_path: Path) -> None:
    session = make(tmp_path, SlowStub())
    journal = RunJournal(tmp_path / "runs.db")
    book = parse_runbook(TIMEOUT_BOOK.replace("['x'] == 1", ".unversioned == 1"), "t2.yaml")
    runner = RunbookRunner.start(session, journal, book, {})
    progress = await asyncio.wait_for(runner.advance(), 3)
    steps = progress.steps
    assert steps["slow"].state == "failed" and "timed out after 0.1s" in steps["slow"].message
    assert "never" not in steps
    assert steps["fallback"].state == "failed" and steps["fallback"].result["count"] == 4
    assert steps["last"].state == "failed"
    assert steps["last"].result["by_version"] == {"unversioned": 2}
    assert progress.status == "failed" and "step last failed" in progress.run.message
    notes = [t["text"] for t in journal.transcript(progress.run.id)]
    assert notes[0].startswith("run started by alice")


async def test_resume_of_an_applying_action_does_not_repeat_done_targets(tmp_path: Path) -> None:
    """The journal holds the request id before apply; a resume reuses it."""
    engine = StubEngine()
    session = make(tmp_path, engine)
    journal = RunJournal(tmp_path / "runs.db")
    book = parse_runbook(BOOK, "t.yaml")
    runner = RunbookRunner.start(
        session, journal, book, {}, answers={"decide": "retry", "retry": "yes"}
    )
    approve(journal, runner.run.id, "gate", "bob")
    engine.crash_after = 0  # the engine connection dies before the first target
    progress = await runner.advance()
    assert progress.status == "failed"
    request_id = progress.steps["retry"].result["request_id"]
    # Simulate a crash after apply but before the step was marked done:
    journal.set_step(runner.run.id, "retry", "applying", request_id=request_id)
    journal.update_run(runner.run.id, status="running", cursor="retry")
    engine.crash_after = None
    progress = await RunbookRunner.resume(session, journal, runner.run.id).advance()
    assert progress.status == "done"
    assert [a[2] for a in engine.applied] == [request_id]  # applied once, under the same id

    # and once more: now the audit shows the target done, so nothing is sent again
    journal.set_step(runner.run.id, "retry", "applying", request_id=request_id)
    journal.update_run(runner.run.id, status="running", cursor="retry")
    progress = await RunbookRunner.resume(session, journal, runner.run.id).advance()
    assert progress.status == "done"
    assert len(engine.applied) == 1
    assert progress.steps["retry"].result["skipped"] == 1


async def test_env_identity_wins_over_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSDECK_IDENTITY", "dave")
    session = make(tmp_path)
    runner = RunbookRunner.start(
        session, RunJournal(tmp_path / "runs.db"), parse_runbook(BOOK, "t.yaml"), {}
    )
    assert runner.run.identity == "dave"


async def test_dry_run_plans_but_does_not_apply(tmp_path: Path) -> None:
    engine = StubEngine()
    session = make(tmp_path, engine)
    runner = RunbookRunner.start(
        session,
        RunJournal(tmp_path / "runs.db"),
        parse_runbook(BOOK, "t.yaml"),
        {},
        answers={"decide": "retry"},
        dry_run=True,
    )
    progress = await runner.advance()
    assert progress.status == "done"
    assert progress.steps["retry"].result["dry_run"] is True
    assert engine.applied == []


async def test_production_needs_the_typed_phrase_not_yes(tmp_path: Path) -> None:
    engine = StubEngine()
    config = Config(path=tmp_path / "c.yaml", contexts={}, identity="alice")
    context = Context(name="prod", engines=(), production=True)
    session = Session(config, context, {"stub": engine}, audit=AuditJournal(tmp_path / "a.db"))
    journal = RunJournal(tmp_path / "runs.db")
    runner = RunbookRunner.start(
        session,
        journal,
        parse_runbook(BOOK, "t.yaml"),
        {},
        answers={"decide": "retry", "retry": "yes"},
    )
    approve(journal, runner.run.id, "gate", "bob")
    progress = await runner.advance()
    assert progress.waiting is not None and progress.waiting.kind == "confirm"
    assert progress.waiting.choices == ("wf-0",) and "type 'wf-0'" in progress.waiting.prompt
    assert engine.applied == []
    runner.answer("retry", "wf-0")
    progress = await runner.advance()
    assert progress.status == "done" and len(engine.applied) == 1


PROMQL_BOOK = """\
name: t3
title: Error rate
steps:
  - id: errors
    kind: check
    text: Error rate over 10 minutes.
    query: promql
    args: {expr: "sum(rate(errors_total[5m]))", window: 10m}
    expect: result.value < 0.05
"""


class FakeMetrics:
    name = "prom"
    kind = "prometheus"

    def __init__(self, value: float) -> None:
        self.value = value
        self.asked: list[tuple[str, float]] = []

    async def query_range(self, query: str, start: Any, end: Any, step: float) -> list[Any]:
        from console.model_telemetry import MetricSample, MetricSeries

        self.asked.append((query, (end - start).total_seconds()))
        return [MetricSeries({"job": "orders"}, (MetricSample(end, self.value),))]


@pytest.mark.parametrize(("value", "status"), [(0.01, "done"), (0.2, "failed")])
async def test_promql_check_with_expectation(tmp_path: Path, value: float, status: str) -> None:
    session = make(tmp_path)
    runner = RunbookRunner.start(
        session, RunJournal(tmp_path / "runs.db"), parse_runbook(PROMQL_BOOK, "t3.yaml"), {}
    )
    metrics = FakeMetrics(value)
    runner._metric_sources = {"prom": metrics}
    progress = await runner.advance()
    assert progress.status == status
    assert progress.steps["errors"].result["value"] == value
    assert progress.steps["errors"].result["series"] == [
        {"labels": {"job": "orders"}, "value": value}
    ]
    assert metrics.asked == [("sum(rate(errors_total[5m]))", 600.0)]


async def test_a_run_driven_by_another_live_process_is_refused(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    from console.errors import UsageError

    session = make(tmp_path)
    journal = RunJournal(tmp_path / "runs.db")
    runner = RunbookRunner.start(
        session, journal, parse_runbook(BOOK, "t.yaml"), {}, answers={"decide": "skip"}
    )
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        owner = f"{socket.gethostname()}:{other.pid}"
        journal._exec("UPDATE runs SET owner = ? WHERE id = ?", (owner, runner.run.id))
        with pytest.raises(UsageError, match="being run by another process"):
            await runner.advance()
    finally:
        other.kill()
        other.wait()
    # the other process is gone (killed): its claim is taken over
    progress = await runner.advance()
    assert progress.status == "done"
    row = journal._exec("SELECT owner FROM runs WHERE id = ?", (runner.run.id,))
    assert row[0]["owner"] is None and os.getpid()


async def test_retrying_a_failed_action_reuses_its_request_id(tmp_path: Path) -> None:
    engine = StubEngine()
    engine.fail_targets = {"stub:default/wf-0/run-0"}
    session = make(tmp_path, engine)
    journal = RunJournal(tmp_path / "runs.db")
    book = parse_runbook(
        BOOK.replace(
            'targets: "{{ steps.find.refs }}"',
            'targets: ["stub:default/wf-0/run-0", "stub:default/wf-2/run-2"]',
        ),
        "t.yaml",
    )
    runner = RunbookRunner.start(
        session, journal, book, {}, answers={"decide": "retry", "retry": "yes"}
    )
    approve(journal, runner.run.id, "gate", "bob")
    progress = await runner.advance()
    assert progress.status == "failed"
    first = progress.steps["retry"].result["request_id"]
    assert progress.steps["retry"].result["done"] == 1  # wf-2 done, wf-0 failed
    # what `opsdeck runbook resume RUN --retry-failed` does:
    engine.fail_targets = set()
    journal.update_run(runner.run.id, status="running")
    journal.set_step(runner.run.id, "retry", "pending")
    progress = await RunbookRunner.resume(session, journal, runner.run.id).advance()
    assert progress.status == "done"
    assert progress.steps["retry"].result["request_id"] == first
    sent = [(target, rid) for target, _, rid in engine.applied]
    assert sent.count(("stub:default/wf-2/run-2", first)) == 1  # not sent again
    assert sent.count(("stub:default/wf-0/run-0", first)) == 2  # failed once, then retried
