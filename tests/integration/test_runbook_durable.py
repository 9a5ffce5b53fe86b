"""Durable runbook runs on the real dev server: `runbook run --durable` and `opsdeck worker`.

Workers run as real subprocesses (`opsdeck worker`), so killing one with SIGKILL is the
crash it stands for. Each test has its own task queue: a worker left from another test
(with another journal) never takes its tasks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from console.runbook.journal import default_journal_path
from console.runbook.runner import TEST_HOLD_ENV
from console.sandbox.devserver import DevServer
from tests.conftest import Demo
from tests.integration.temporal_config import write_temporal_config

from .runbook_helpers import (
    audit_records,
    start_unpolled,
    status_of,
    terminations,
    two_actions_book,
    wait_for_file,
)
from .test_cli_executions import OPSDECK, opsdeck

pytestmark = pytest.mark.integration

DECIDE_BOOK = """\
name: durable-decide
title: Check, decide, act
engines: [temporal]
parameters:
  target: {type: string, required: true}
steps:
  - id: look
    kind: check
    text: Is it running?
    query: count
    args: {status: running, query: "WorkflowId = '{{ params.target }}'"}
    expect: result.count == 1
  - id: decide
    kind: decision
    text: Stop it?
    question: Terminate the execution?
    choices: {stop: next, leave: end}
  - id: act
    kind: action
    text: Terminate it.
    action: terminate
    targets: ["temporal:default/{{ params.target }}"]
"""

TWO_ACTIONS = two_actions_book("durable-two-actions")


@pytest.fixture
def config(tmp_path: Path, temporal_server: DevServer) -> Path:
    return write_temporal_config(
        tmp_path / "config.yaml",
        temporal_server,
        identity="alice@example.com",
        context=f"runbook-task-queue: rb-durable-{uuid.uuid4().hex[:8]}\nrunbook-heartbeat: 2s",
    )


class Workers:
    """`opsdeck worker` subprocesses of one test; all stopped at its end."""

    def __init__(self, config: Path, logs: Path) -> None:
        self.config, self.logs, self.procs = config, logs, list[subprocess.Popen[bytes]]()

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        log = self.logs / f"worker-{len(self.procs)}.log"
        proc = subprocess.Popen(
            [OPSDECK, "worker"],
            env=dict(os.environ, OPSDECK_CONFIG=str(self.config), **env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
            start_new_session=True,
        )
        self.procs.append(proc)
        deadline = time.monotonic() + 30
        while b"(ready)" not in log.read_bytes():
            assert proc.poll() is None, f"worker exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"worker not ready: {log.read_text()}"
            time.sleep(0.05)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)  # reaped: its journal claim now names a dead process

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def workers(config: Path, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(config, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


def run_json(*args: str, config: Path) -> tuple[int, dict[str, Any]]:
    done = opsdeck("runbook", *args, "-o", "json", config=config)
    assert done.stdout, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, data


def wait_for_status(run_id: str, config: Path, status: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        _, data = run_json("runs", run_id, config=config)
        if data["status"] == status:
            return data
        assert data["status"] not in ("done", "failed") or data["status"] == status, data
        assert time.monotonic() < deadline, f"run not {status}: {data}"
        time.sleep(0.2)


async def running(client: Client, *names: str) -> list[str]:
    return await start_unpolled(client, "rb-durable", *names)


async def test_durable_run_with_a_decision_answered_through_the_cli(
    tmp_path: Path, config: Path, demo: Demo, workers: Workers
) -> None:
    client = await Client.connect(demo.address, namespace="default")
    (target,) = await running(client, "t")
    book = tmp_path / "decide.yaml"
    book.write_text(DECIDE_BOOK)
    workers.start()
    started = time.monotonic()
    # Following without a terminal: the CLI stops at the decision (exit 2, as a local
    # run does) and the run waits on the worker.
    code, data = run_json(
        "run", str(book), "--param", f"target={target}", "--durable", "--yes", config=config
    )
    assert code == 2, data
    run_id = data["id"]
    assert data["status"] == "waiting"
    assert data["waiting"]["step"] == "decide" and data["waiting"]["kind"] == "decision"
    assert data["durable"]["workflow_id"] == f"opsdeck-runbook-{run_id}"
    assert next(s for s in data["steps"] if s["id"] == "look")["state"] == "done"

    # (4) the runs list shows it beside local runs, with what it waits on.
    code, runs = run_json("runs", config=config)
    assert code == 0
    row = next(r for r in runs if r["id"] == run_id)
    assert row["where"].startswith("temporal:rb-durable-")
    assert row["waiting"]["kind"] == "decision" and row["waiting"]["step"] == "decide"
    assert row["waiting"]["choices"] == ["stop", "leave"]
    table = opsdeck("runbook", "runs", config=config).stdout
    line = next(line for line in table.splitlines() if line.startswith(run_id))
    assert "temporal:rb-durable-" in line and "decision decide" in line, table
    detail = opsdeck("runbook", "runs", run_id, config=config).stdout
    assert f"durable: opsdeck-runbook-{run_id}" in detail
    assert "waiting: decision: Terminate the execution?" in detail

    bad = opsdeck("runbook", "answer", run_id, "decide", "maybe", config=config)
    assert bad.returncode == 2 and "not one of" in bad.stderr
    done = opsdeck("runbook", "answer", run_id, "decide", "stop", config=config)
    assert done.returncode == 0, done.stderr
    data = wait_for_status(run_id, config, "done")
    elapsed = time.monotonic() - started
    assert await status_of(client, target) == "TERMINATED"
    act = next(s for s in data["steps"] if s["id"] == "act")
    assert act["state"] == "done" and act["result"]["done"] == 1
    records = audit_records(run_id)
    assert [r.target.split("/")[1] for r in records] == [target]
    assert records[0].identity == "alice@example.com"  # the starter's, not the worker's
    handle = client.get_workflow_handle(f"opsdeck-runbook-{run_id}")
    assert (await handle.result())["status"] == "done"
    # The recorded history replays on today's workflow code in the SDK sandbox: no
    # non-determinism, nothing the sandbox refuses.
    from temporalio.worker import Replayer

    from console.runbook.durable.workflow import RunbookWorkflow

    await Replayer(workflows=[RunbookWorkflow]).replay_workflow(await handle.fetch_history())
    print(f"durable run with a decision: {elapsed:.2f}s")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
async def test_killing_the_following_cli_does_not_stop_the_run(
    tmp_path: Path, config: Path, demo: Demo, workers: Workers, how: signal.Signals
) -> None:
    client = await Client.connect(demo.address, namespace="default")
    first, second = await running(client, "a", "b")
    book = tmp_path / "two.yaml"
    book.write_text(TWO_ACTIONS)
    refs = [f"temporal:default/{wid}" for wid in (first, second)]
    # No worker yet: the CLI follows a run that cannot move, so it is surely mid-run.
    params = ["--param", f"first={refs[0]}", "--param", f"second={refs[1]}"]
    proc = subprocess.Popen(
        [OPSDECK, "runbook", "run", str(book), "--durable", "--yes", *params],
        env=dict(os.environ, OPSDECK_CONFIG=str(config)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert line.startswith("run rb-") and "durable" in line, line
    run_id = line.split()[1].rstrip(":")
    time.sleep(0.5)
    assert proc.poll() is None
    os.kill(proc.pid, how)
    _, err = proc.communicate(timeout=10)
    if how == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130 and b"the run goes on on the worker" in err, err

    workers.start()
    data = wait_for_status(run_id, config, "done")
    assert [s["state"] for s in data["steps"]] == ["done", "done"]
    assert [await status_of(client, w) for w in (first, second)] == ["TERMINATED"] * 2
    assert sorted(r.target.split("/")[1] for r in audit_records(run_id)) == sorted([first, second])


@pytest.mark.parametrize(
    "hold",
    ["before:b", "after-apply:a"],
    ids=["worker-killed-between-the-actions", "worker-killed-after-apply-before-done"],
)
async def test_killed_worker_resumes_on_another_without_repeating_an_action(
    tmp_path: Path, config: Path, demo: Demo, workers: Workers, hold: str
) -> None:
    client = await Client.connect(demo.address, namespace="default")
    first, second = await running(client, "a", "b")
    book = tmp_path / "two.yaml"
    book.write_text(TWO_ACTIONS)
    refs = [f"temporal:default/{wid}" for wid in (first, second)]
    held = workers.start(**{TEST_HOLD_ENV: hold})
    code, data = run_json(
        "run", str(book), "--durable", "--yes", "--detach",
        "--param", f"first={refs[0]}", "--param", f"second={refs[1]}",
        config=config,
    )  # fmt: skip
    assert code == 0 and data["status"] == "running", data
    run_id = data["id"]
    marker = default_journal_path().parent / f"hold-{run_id}"
    wait_for_file(marker, held, "the worker")
    workers.kill(held)
    marker.unlink()
    assert await status_of(client, first) == "TERMINATED"
    assert await status_of(client, second) == "RUNNING"

    restarted = time.monotonic()
    workers.start()
    data = wait_for_status(run_id, config, "done")
    resumed = time.monotonic() - restarted
    assert await status_of(client, second) == "TERMINATED"
    records = audit_records(run_id)
    per_target = Counter((r.request_id, r.target) for r in records)
    assert sorted(t.split("/")[1] for _, t in per_target) == sorted([first, second]), records
    assert set(per_target.values()) == {1}, per_target  # every action applied once
    assert {r.outcome for r in records} == {"ok"}
    assert await terminations(client, first) == 1
    if hold == "after-apply:a":
        a = next(s for s in data["steps"] if s["id"] == "a")
        assert a["result"]["skipped"] == 1 and a["result"]["done"] == 0
    print(f"restart to done ({hold}): {resumed:.2f}s")


GATED_BOOK = """\
name: durable-gated
title: Approved terminate
engines: [temporal]
parameters:
  target: {type: string, required: true}
steps:
  - id: gate
    kind: approval
    text: A second person approves the terminate.
  - id: stop
    kind: action
    text: Terminate it.
    action: terminate
    targets: ["temporal:default/{{ params.target }}"]
"""


def as_identity(identity: str, *args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OPSDECK_CONFIG=str(config), OPSDECK_IDENTITY=identity)
    return subprocess.run(
        [OPSDECK, "runbook", *args], capture_output=True, text=True, env=env, timeout=60
    )


async def test_durable_approval_goes_on_without_a_resume(
    tmp_path: Path, config: Path, demo: Demo, workers: Workers
) -> None:
    client = await Client.connect(demo.address, namespace="default")
    (target,) = await running(client, "t")
    book = tmp_path / "gated.yaml"
    book.write_text(GATED_BOOK)
    workers.start()
    code, data = run_json(
        "run", str(book), "--param", f"target={target}", "--durable", "--yes", config=config
    )
    assert code == 4, data  # waiting for an approval, as a local run
    run_id = data["id"]
    assert data["waiting"]["kind"] == "approval" and data["waiting"]["step"] == "gate"
    code, runs = run_json("runs", config=config)
    assert next(r for r in runs if r["id"] == run_id)["waits_on"] == "approval gate"

    own = as_identity("alice@example.com", "approve", run_id, "gate", config=config)
    assert own.returncode == 3 and "cannot approve" in own.stderr
    other = as_identity("bob@example.com", "approve", run_id, "gate", config=config)
    assert other.returncode == 0, other.stderr
    assert "the worker goes on" in other.stdout
    data = wait_for_status(run_id, config, "done")
    gate = next(s for s in data["steps"] if s["id"] == "gate")
    assert gate["result"]["approved_by"] == "bob@example.com"
    assert await status_of(client, target) == "TERMINATED"


async def test_resume_starts_an_ended_workflow_again_from_the_journal(
    tmp_path: Path, config: Path, demo: Demo, workers: Workers
) -> None:
    client = await Client.connect(demo.address, namespace="default")
    (target,) = await running(client, "t")
    book = tmp_path / "decide.yaml"
    book.write_text(DECIDE_BOOK)
    workers.start()
    code, data = run_json(
        "run", str(book), "--param", f"target={target}", "--durable", "--yes", "--detach",
        config=config,
    )  # fmt: skip
    run_id = data["id"]
    wait_for_status(run_id, config, "waiting")
    await client.get_workflow_handle(f"opsdeck-runbook-{run_id}").terminate("test: by hand")
    lost = opsdeck("runbook", "answer", run_id, "decide", "stop", config=config)
    assert lost.returncode == 2 and "not running" in lost.stderr

    code, data = run_json("resume", run_id, "--answer", "decide=stop", "--yes", config=config)
    assert code == 0, data
    assert data["status"] == "done"
    assert await status_of(client, target) == "TERMINATED"
    assert len(audit_records(run_id)) == 1


APPROVE_TERMINATE = """\
package opsdeck

import rego.v1

default decision := {"result": "allow", "reasons": []}

decision := {
  "result": "approve",
  "reasons": ["terminate needs a second person"],
  "approvals": 1,
  "approver_groups": [],
} if input.action == "terminate"
"""

ONE_ACTION = """\
name: durable-one-action
title: One action
engines: [temporal]
parameters:
  target: {type: string, required: true}
steps:
  - id: act
    kind: action
    text: Terminate it.
    action: terminate
    targets: ["temporal:default/{{ params.target }}"]
"""


@pytest.mark.parametrize("how", ["resume", "recheck"])
async def test_policy_approval_of_a_durable_step_is_seen_on_resume_or_recheck(
    tmp_path: Path, config: Path, demo: Demo, workers: Workers, how: str
) -> None:
    import re

    (tmp_path / "team.rego").write_text(APPROVE_TERMINATE)
    text = config.read_text().replace("contexts:", "policy:\n  file: team.rego\ncontexts:")
    if how == "recheck":
        text = text.replace(
            "runbook-heartbeat: 2s\n", "runbook-heartbeat: 2s\n    runbook-recheck: 1s\n"
        )
    config.write_text(text)
    client = await Client.connect(demo.address, namespace="default")
    (target,) = await running(client, "t")
    book = tmp_path / "one.yaml"
    book.write_text(ONE_ACTION)
    workers.start()
    started = as_identity(
        "alice@example.com", "run", str(book), "--param", f"target={target}", "--durable",
        "--yes", "-o", "json", config=config,
    )  # fmt: skip
    assert started.returncode == 4, started.stderr
    data = json.loads(started.stdout)
    run_id = data["id"]
    assert data["waiting"]["kind"] == "approval" and data["waiting"]["step"] == "act"
    found = re.search(r"policy approval (\S+)", data["waiting"]["prompt"])
    assert found, data["waiting"]
    approved = subprocess.run(
        [OPSDECK, "approvals", "approve", found.group(1)],
        capture_output=True,
        text=True,
        env=dict(os.environ, OPSDECK_CONFIG=str(config), OPSDECK_IDENTITY="bob@example.com"),
        timeout=60,
    )
    assert approved.returncode == 0, approved.stderr
    if how == "resume":  # the workflow would look again within a minute; resume: now
        resumed = as_identity("alice@example.com", "resume", run_id, "-o", "json", config=config)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["status"] == "done"
    else:  # runbook-recheck: 1s
        wait_for_status(run_id, config, "done", timeout=30)
    assert await status_of(client, target) == "TERMINATED"
    (record,) = audit_records(run_id)
    assert record.identity == "alice@example.com"
    assert record.parameters["policy"]["approval"] == found.group(1)


async def test_following_on_a_terminal_asks_the_decision_as_a_local_run(
    tmp_path: Path, config: Path, demo: Demo, workers: Workers
) -> None:
    import pty

    client = await Client.connect(demo.address, namespace="default")
    (target,) = await running(client, "t")
    book = tmp_path / "decide.yaml"
    book.write_text(DECIDE_BOOK)
    workers.start()
    master, terminal = pty.openpty()
    os.write(master, b"stop\n")  # waits in the terminal until the CLI asks
    try:
        args = ["run", str(book), "--param", f"target={target}", "--durable", "--yes"]
        done = subprocess.run(
            [OPSDECK, "runbook", *args],
            env=dict(os.environ, OPSDECK_CONFIG=str(config)),
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        os.close(terminal)
        os.close(master)
    assert done.returncode == 0, done.stderr
    assert "Terminate the execution? [stop/leave]" in done.stderr
    assert "decide: done - answered 'stop'" in done.stdout
    assert done.stdout.rstrip().endswith(": done - finished"), done.stdout
    assert await status_of(client, target) == "TERMINATED"
