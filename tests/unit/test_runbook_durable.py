"""Durable runs, the parts without a server: config keys, the durable mark, waits."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.config import Context
from console.errors import ConfigError
from console.runbook.durable import client as durable
from console.runbook.journal import RunJournal
from console.runbook.loader import parse_runbook
from console.runbook.runner import RunbookRunner

from .test_runbook_runner import make

BOOK = """\
name: w
title: Waits
engines: [stub]
steps:
  - id: decide
    kind: decision
    text: Decide.
    question: Go on?
    choices: {go: next, stop: end}
  - id: by-hand
    kind: manual
    text: Do it.
  - id: gate
    kind: approval
    text: Approve.
"""


def test_task_queue_and_heartbeat_from_the_context() -> None:
    plain = Context(name="dev", engines=())
    assert durable.task_queue(plain) == "opsdeck-runbooks"
    assert durable.task_queue(plain, "q") == "q"
    assert durable.heartbeat_seconds(plain) == 15.0
    keyed = Context(
        name="dev", engines=(), extra={"runbook_task_queue": "ops", "runbook-heartbeat": "5s"}
    )
    assert durable.task_queue(keyed) == "ops"
    assert durable.heartbeat_seconds(keyed) == 5.0
    with pytest.raises(ConfigError, match="runbook-heartbeat"):
        durable.heartbeat_seconds(Context(name="dev", engines=(), extra={"runbook-heartbeat": "x"}))


def test_a_context_without_a_temporal_engine_cannot_run_durable(tmp_path: Path) -> None:
    from console.errors import UsageError

    with pytest.raises(UsageError, match="no temporal engine"):
        durable.host_engine(make(tmp_path))


async def test_the_durable_mark_and_what_a_run_waits_on(tmp_path: Path) -> None:
    session = make(tmp_path)
    journal = RunJournal(tmp_path / "runs.db")
    book = parse_runbook(BOOK, "w.yaml")
    runner = RunbookRunner.start(session, journal, book, {})
    run_id = runner.run.id
    assert durable.durable_info(journal, run_id) is None
    info = durable.mark_durable(journal, run_id, "ops", "temporal")
    assert durable.durable_info(journal, run_id) == info
    assert info.workflow_id == f"opsdeck-runbook-{run_id}"

    progress = await runner.advance()
    waits = durable.waiting_of(progress.run, progress.steps)
    assert waits is not None
    assert (waits["step"], waits["kind"], waits["choices"]) == (
        "decide",
        "decision",
        ["go", "stop"],
    )
    runner.answer("decide", "go")
    progress = await runner.advance()
    waits = durable.waiting_of(progress.run, progress.steps)
    assert waits is not None and (waits["kind"], waits["choices"]) == ("manual", ["done"])
    runner.answer("by-hand", "done")
    progress = await runner.advance()
    waits = durable.waiting_of(progress.run, progress.steps)
    assert waits is not None and waits["kind"] == "approval"
    assert waits["prompt"] == progress.waiting.prompt  # type: ignore[union-attr]
    journal.close()
    await session.close()


async def test_a_worker_without_the_runs_context_fails_the_attempt_and_can_retry(
    tmp_path: Path,
) -> None:
    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    from console.runbook.durable.activities import RunbookActivities
    from console.runbook.durable.types import DurableStart

    config = tmp_path / "config.yaml"
    config.write_text("contexts:\n  other:\n    engines: []\n")
    activities = RunbookActivities(config, log=lambda text: None)
    start = DurableStart("rb-x", "missing", {"user": "alice"}, heartbeat_seconds=3)
    for _ in range(2):  # the second attempt is not refused as "still running here"
        with pytest.raises(ApplicationError) as failed:
            await ActivityEnvironment().run(activities.advance_step, start)
        assert failed.value.type == "ConfigError" and not failed.value.non_retryable
        assert "missing" in str(failed.value)


async def test_a_retried_attempt_takes_over_a_claim_left_on_another_host(tmp_path: Path) -> None:
    import dataclasses
    import sqlite3

    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    from console.runbook.durable.activities import RunbookActivities
    from console.runbook.durable.types import DurableStart
    from console.session import open_session

    config = tmp_path / "config.yaml"
    config.write_text(
        "contexts:\n  dev:\n    engines:\n"
        "      - {kind: temporal, address: '127.0.0.1:1', namespace: default}\n"
    )
    book = parse_runbook(
        "name: m\ntitle: M\nengines: [temporal]\nsteps:\n"
        "  - {id: by-hand, kind: manual, text: Do it.}\n",
        "m.yaml",
    )
    journal = RunJournal()
    run_id = RunbookRunner.start(open_session("dev", config_path=config), journal, book, {}).run.id
    journal.close()
    with sqlite3.connect(RunJournal().path) as db:  # a worker on another host was killed
        db.execute("UPDATE runs SET owner = 'elsewhere:4242' WHERE id = ?", (run_id,))
    activities = RunbookActivities(config, log=lambda text: None)
    start = DurableStart(run_id, "dev", {"user": "alice"}, heartbeat_seconds=3)

    first = ActivityEnvironment()
    with pytest.raises(ApplicationError, match="another process") as refused:
        await first.run(activities.advance_step, start)
    assert refused.value.type == "UsageError"  # retried: Temporal decides when it is over
    retried = ActivityEnvironment()
    retried.info = dataclasses.replace(retried.info, attempt=2)
    outcome = await retried.run(activities.advance_step, start)
    assert outcome.status == "waiting" and outcome.waiting is not None
    assert outcome.waiting["kind"] == "manual"
    journal = RunJournal()
    notes = [n["text"] for n in journal.transcript(run_id)]
    journal.close()
    assert any("attempt 2 takes the run over" in n and "elsewhere:4242" in n for n in notes)
