"""What the runbook crash/resume tests share (local runs in test_runbook_resume.py,
durable runs in test_runbook_durable.py and its TUI test): the two-action runbook, the
unpolled workflows it terminates, and the checks that each action happened once."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client

from console.audit import AuditJournal, default_audit_path


def two_actions_book(name: str) -> str:
    """A runbook that terminates `first`, then `second` (the crash lands between)."""
    return f"""\
name: {name}
title: Two actions
engines: [temporal]
parameters:
  first: {{type: string, required: true}}
  second: {{type: string, required: true}}
steps:
  - id: a
    kind: action
    text: Terminate the first.
    action: terminate
    targets: "{{{{ params.first }}}}"
  - id: b
    kind: action
    text: Terminate the second.
    action: terminate
    targets: "{{{{ params.second }}}}"
"""


async def start_unpolled(client: Client, prefix: str, *names: str) -> list[str]:
    """Running workflows nobody polls (so only our actions end them); their ids."""
    ids = [f"{prefix}-{uuid.uuid4().hex[:8]}-{n}" for n in names]
    for wid in ids:
        await client.start_workflow("Nobody", id=wid, task_queue=f"{prefix}-no-worker")
    return ids


async def status_of(client: Client, workflow_id: str) -> str:
    described = await client.get_workflow_handle(workflow_id).describe()
    assert described.status is not None
    return described.status.name


async def terminations(client: Client, workflow_id: str) -> int:
    """Terminated events in the history: 1 when the action was sent once."""
    return len(
        [
            e
            async for e in client.get_workflow_handle(workflow_id).fetch_history_events()
            if e.HasField("workflow_execution_terminated_event_attributes")
        ]
    )


def audit_records(run_id: str) -> list[Any]:
    audit = AuditJournal(default_audit_path())
    try:
        return audit.list(run_id=run_id)
    finally:
        audit.close()


def wait_for_file(path: Path, proc: subprocess.Popen[Any], what: str, timeout: float = 60) -> None:
    """Until ``path`` exists (a hold marker); fail early if ``proc`` exited."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"{what} exited before holding"
        assert time.monotonic() < deadline, f"{what} never reached the hold point"
        time.sleep(0.05)
