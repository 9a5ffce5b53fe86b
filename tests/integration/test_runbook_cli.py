"""`opsdeck runbook` on the real dev server: approvals by a second identity, guidance dry runs."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from console.audit import AuditJournal, default_audit_path
from console.sandbox.devserver import DevServer
from tests.conftest import Demo

from .test_cli_executions import OPSDECK
from .test_runbook_shipped import write_config

pytestmark = pytest.mark.integration

BOOK = """\
name: gated
title: Gated terminate
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
  - id: gate
    kind: approval
    text: A second person approves the terminate.
  - id: stop
    kind: action
    text: Terminate it.
    action: terminate
    targets: ["temporal:default/{{ params.target }}"]
"""


@pytest.fixture
def config(tmp_path: Path, temporal_server: DevServer) -> Path:
    return write_config(tmp_path, temporal_server)


def rb(*args: str, config: Path, identity: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OPSDECK_CONFIG=str(config))
    env.pop("OPSDECK_IDENTITY", None)
    if identity:
        env["OPSDECK_IDENTITY"] = identity
    return subprocess.run(
        [OPSDECK, "runbook", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


async def test_approval_only_by_a_second_identity(
    tmp_path: Path,
    config: Path,
    temporal_server: DevServer,
    demo: Demo,  # a server that answers (the bare fixture may still be starting)
) -> None:
    client = await Client.connect(temporal_server.address, namespace="default")
    wid = f"rb-gated-{uuid.uuid4().hex[:8]}"
    await client.start_workflow("Nobody", id=wid, task_queue="rb-no-worker")
    book = tmp_path / "gated.yaml"
    book.write_text(BOOK)

    started = rb("run", str(book), "--param", f"target={wid}", "--yes", "-o", "json", config=config)
    assert started.returncode == 4, started.stderr  # waiting for the approval
    data: dict[str, Any] = json.loads(started.stdout)
    run_id = data["id"]
    assert data["identity"] == "alice@example.com"  # config `identity`
    assert data["waiting"]["kind"] == "approval" and data["step"] == "gate"
    assert f"opsdeck runbook approve {run_id} gate" in started.stderr

    # --yes never passes an approval: resuming without one still waits
    again = rb("resume", run_id, "--yes", config=config)
    assert again.returncode == 4

    selfish = rb("approve", run_id, "gate", config=config)  # alice again
    assert selfish.returncode == 3
    assert "alice@example.com started run" in selfish.stderr
    also_alice = rb("approve", run_id, "gate", config=config, identity="alice@example.com")
    assert also_alice.returncode == 3

    approved = rb("approve", run_id, "gate", config=config, identity="bob@example.com")
    assert approved.returncode == 0, approved.stderr
    done = rb("resume", run_id, "--yes", "-o", "json", config=config)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    steps = {s["id"]: s for s in data["steps"]}
    assert steps["gate"]["result"] == {"approved_by": "bob@example.com"}
    assert steps["stop"]["result"]["done"] == 1
    desc = await client.get_workflow_handle(wid).describe()
    assert desc.status is not None and desc.status.name == "TERMINATED"
    audit = AuditJournal(default_audit_path())
    (record,) = audit.list(run_id=run_id)
    audit.close()
    assert record.action == "terminate" and wid in record.target

    runs = rb("runs", run_id, config=config)
    assert "gate: approved by bob@example.com" in runs.stdout


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("timeout-cascade", ["--answer", "decide=leave"]),
        ("message-duplication", ["--param", "key=nobody-has-this-key"]),
    ],
)
def test_guidance_runbooks_dry_run_on_the_sandbox(
    name: str,
    extra: list[str],
    config: Path,
    demo: Demo,
) -> None:
    done = rb("run", name, "--dry-run", *extra, "-o", "json", config=config)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "done" and data["dry_run"] is True
    checks = [s for s in data["steps"] if s["kind"] == "check"]
    assert checks and all(s["state"] in ("done", "failed") for s in checks)
    assert all("count" in s["result"] for s in checks)
    if name == "timeout-cascade":
        pollers = next(s for s in data["steps"] if s["id"] == "pollers")
        # demo-no-worker's queue has no poller: the check fails and the run goes on
        assert pollers["state"] == "failed" and pollers["result"]["count"] >= 1
