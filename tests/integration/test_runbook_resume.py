"""A run killed (SIGKILL, a real process) between two actions resumes without repeating one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from temporalio.client import Client

from console.runbook.journal import RunJournal, default_journal_path
from console.runbook.runner import TEST_HOLD_ENV
from console.sandbox.devserver import DevServer
from tests.conftest import Demo

from .runbook_helpers import (
    audit_records,
    start_unpolled,
    status_of,
    terminations,
    two_actions_book,
)
from .test_cli_executions import OPSDECK, opsdeck
from .test_runbook_shipped import write_config

pytestmark = pytest.mark.integration

BOOK = two_actions_book("two-actions")


@pytest.fixture
def config(tmp_path: Path, temporal_server: DevServer) -> Path:
    return write_config(tmp_path, temporal_server)


def run_until_held(args: list[str], config: Path, hold: str) -> str:
    """Start `opsdeck runbook run`, wait until it holds at ``hold``, SIGKILL it; the run id."""
    env = dict(os.environ, OPSDECK_CONFIG=str(config), **{TEST_HOLD_ENV: hold})
    proc = subprocess.Popen(
        [OPSDECK, "runbook", "run", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    marker_dir = default_journal_path().parent
    deadline = time.monotonic() + 60
    try:
        while not list(marker_dir.glob("hold-*")):
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"exited {proc.returncode} before holding: {out} {err}")
            assert time.monotonic() < deadline, "the run never reached the hold point"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    (marker,) = marker_dir.glob("hold-*")
    marker.unlink()
    return marker.name.removeprefix("hold-")


@pytest.mark.parametrize(
    "hold",
    ["before:b", "after-apply:a"],
    ids=["killed-between-the-actions", "killed-after-apply-before-journaling-done"],
)
async def test_killed_run_resumes_without_repeating_an_action(
    tmp_path: Path, config: Path, temporal_server: DevServer, demo: Demo, hold: str
) -> None:
    """``demo``: a server that already answers (the bare fixture may still be starting)."""
    client = await Client.connect(temporal_server.address, namespace="default")
    ids = await start_unpolled(client, "rb-kill", "a", "b")
    book = tmp_path / "two-actions.yaml"
    book.write_text(BOOK)
    refs = [f"temporal:default/{wid}" for wid in ids]
    args = [str(book), "--param", f"first={refs[0]}", "--param", f"second={refs[1]}", "--yes"]
    run_id = run_until_held(args, config, hold)

    journal = RunJournal()
    steps = journal.steps(run_id)
    journal.close()
    if hold == "before:b":
        assert steps["a"].state == "done" and steps["b"].state == "running"
    else:
        assert steps["a"].state == "applying" and steps["a"].request_id
    assert await status_of(client, ids[0]) == "TERMINATED"
    assert await status_of(client, ids[1]) == "RUNNING"

    done = opsdeck("runbook", "resume", run_id, "--yes", "-o", "json", config=config)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "done"
    assert await status_of(client, ids[1]) == "TERMINATED"

    records = audit_records(run_id)
    workflow_ids = sorted(r.target.split("/")[1] for r in records)
    assert workflow_ids == sorted(ids), records  # each action recorded (and sent) once
    assert {r.outcome for r in records} == {"ok"}
    assert await terminations(client, ids[0]) == 1
    if hold == "after-apply:a":
        a = next(s for s in data["steps"] if s["id"] == "a")
        assert a["result"]["skipped"] == 1 and a["result"]["done"] == 0
