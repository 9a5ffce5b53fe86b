"""Policy and approvals end to end on the real dev server: filed, approved, applied,
refused when the world moved, denied with the policy's reasons, all in the audit."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from console.audit import AuditJournal, default_audit_path
from console.sandbox.devserver import DevServer

from .test_cli_executions import OPSDECK, TASK_QUEUE, wait_status

pytestmark = pytest.mark.integration

POLICY = """\
package opsdeck

import rego.v1

default decision := {"result": "allow", "reasons": []}

decision := {
  "result": "approve",
  "reasons": ["terminate in env prod needs a second person"],
  "approvals": 1,
  "approver_groups": [],
} if {
  input.action == "terminate"
  input.context.labels.env == "prod"
}

decision := {"result": "deny", "reasons": [why]} if {
  input.action == "cancel"
  why := concat("", [input.identity.user, " may not cancel"])
}
"""


@pytest.fixture
def config(tmp_path: Path, temporal_server: DevServer) -> Path:
    (tmp_path / "team.rego").write_text(POLICY)
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""\
current-context: prod
policy:
  file: team.rego
contexts:
  prod:
    labels: {{env: prod, region: eu-west-1}}
    engines:
      - kind: temporal
        address: {temporal_server.address}
        http-address: {temporal_server.http_address}
        namespace: default
"""
    )
    return path


def run(*args: str, config: Path, who: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OPSDECK_CONFIG=str(config), OPSDECK_IDENTITY=who)
    env.pop("OPSDECK_ID_TOKEN", None)
    return subprocess.run(
        [OPSDECK, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


async def start(client: Client) -> str:
    workflow_id = f"pol-{uuid.uuid4().hex[:10]}"
    await client.start_workflow("PolicyTest", id=workflow_id, task_queue=TASK_QUEUE)
    return workflow_id


def terminates(request: str) -> list[Any]:
    audit = AuditJournal(default_audit_path())
    try:
        return [r for r in audit.list(None, request_id=request) if r.action == "terminate"]
    finally:
        audit.close()


def file_request(config: Path, *targets: str) -> str:
    filed = run(
        "executions", "terminate", *targets, "--yes", "-o", "json", config=config, who="alice"
    )
    assert filed.returncode == 3, filed.stderr
    doc = json.loads(filed.stdout)
    assert doc["approval"]["status"] == "pending"
    assert doc["plan"]["policy"]["result"] == "approve"
    return str(doc["approval"]["id"])


async def test_terminate_needs_a_second_person_then_applies_the_frozen_plan(
    config: Path, temporal_server: DevServer
) -> None:
    client = await Client.connect(temporal_server.address, namespace="default")
    first, second = await start(client), await start(client)
    request = file_request(config, first, second)
    for wid in (first, second):  # filing changed nothing
        await wait_status(client, wid, WorkflowExecutionStatus.RUNNING)

    own = run("approvals", "approve", request, config=config, who="alice")
    assert own.returncode == 3 and "own" in own.stderr.lower(), own.stderr
    early = run("approvals", "apply", request, "--yes", config=config, who="alice")
    assert early.returncode == 3 and "pending" in early.stderr, early.stderr

    approved = run("approvals", "approve", request, config=config, who="bob")
    assert approved.returncode == 0, approved.stderr
    applied = run("approvals", "apply", request, "--yes", "-o", "json", config=config, who="alice")
    assert applied.returncode == 0, applied.stderr
    for wid in (first, second):
        await wait_status(client, wid, WorkflowExecutionStatus.TERMINATED)
    report = json.loads(applied.stdout)["report"]
    records = terminates(report["request_id"])
    assert len(records) == 2
    for record in records:
        policy = record.parameters["policy"]
        assert policy["decision"] == "allow"
        assert policy["approval"] == request
        assert policy["policy_hash"].startswith("sha256:")
        assert any("approved in request" in r and "bob" in r for r in policy["reasons"])
        assert policy["identity"]["user"] == "alice" and policy["identity"]["verified"] is False

    again = run("approvals", "apply", request, "--yes", config=config, who="alice")
    assert again.returncode != 0 and "applied" in again.stderr, again.stderr


async def test_an_approved_plan_is_not_applied_when_the_world_moved(
    config: Path, temporal_server: DevServer
) -> None:
    client = await Client.connect(temporal_server.address, namespace="default")
    closed, still = await start(client), await start(client)
    request = file_request(config, closed, still)
    assert run("approvals", "approve", request, config=config, who="bob").returncode == 0
    await client.get_workflow_handle(closed).terminate(reason="closed by someone else")

    moved = run("approvals", "apply", request, "--yes", config=config, who="alice")
    assert moved.returncode == 3, moved.stderr
    assert "world changed" in moved.stderr and closed in moved.stderr, moved.stderr
    await wait_status(client, still, WorkflowExecutionStatus.RUNNING)  # nothing applied


async def test_a_denial_names_the_policy_reason_and_changes_nothing(
    config: Path, temporal_server: DevServer
) -> None:
    client = await Client.connect(temporal_server.address, namespace="default")
    wid = await start(client)
    denied = run("executions", "cancel", wid, "--yes", config=config, who="carol")
    assert denied.returncode == 3
    assert "carol may not cancel" in denied.stderr
    await wait_status(client, wid, WorkflowExecutionStatus.RUNNING)
    check = run(
        "policy", "check", "cancel", "--target", wid, "-o", "json", config=config, who="carol"
    )
    assert check.returncode == 3, check.stderr
    assert json.loads(check.stdout)["decision"]["reasons"] == ["carol may not cancel"]


SIGNAL_POLICY = """\
package opsdeck

import rego.v1

default decision := {"result": "allow", "reasons": []}

decision := {"result": "approve", "reasons": ["signals need a second person"], "approvals": 1} if {
  input.action == "signal"
}
"""


async def test_a_masked_signal_is_applied_by_its_command_and_its_pii_is_never_kept(
    tmp_path: Path, temporal_server: DevServer
) -> None:
    (tmp_path / "signals.rego").write_text(SIGNAL_POLICY)
    path = tmp_path / "signals.yaml"
    path.write_text(
        f"""\
current-context: prod
pii-fields: [email]
policy:
  file: signals.rego
contexts:
  prod:
    engines:
      - kind: temporal
        address: {temporal_server.address}
        namespace: default
"""
    )
    client = await Client.connect(temporal_server.address, namespace="default")
    wid = await start(client)
    email = "jane.doe@example.com"
    command = ["executions", "signal", wid, "approve", "--input", json.dumps({"email": email})]
    filed = run(*command, "--yes", "-o", "json", config=path, who="alice")
    assert filed.returncode == 3, filed.stderr
    request = json.loads(filed.stdout)["approval"]["id"]
    shown = run("approvals", "show", request, "-o", "json", config=path, who="bob")
    assert shown.returncode == 0 and email not in shown.stdout, shown.stdout
    assert json.loads(shown.stdout)["command"] is None  # no command line with a payload
    assert (
        email.encode()
        not in (Path(os.environ["XDG_DATA_HOME"]) / "opsdeck" / "approvals.db").read_bytes()
    )
    assert run("approvals", "approve", request, config=path, who="bob").returncode == 0

    # The request alone cannot rebuild the payload: a clear refusal, nothing sent.
    alone = run("approvals", "apply", request, "--yes", config=path, who="alice")
    assert alone.returncode == 2, alone.stderr
    assert "masked parameters (input.email)" in alone.stderr and "--approval" in alone.stderr
    history = [e async for e in client.get_workflow_handle(wid).fetch_history_events()]
    assert not any(e.HasField("workflow_execution_signaled_event_attributes") for e in history)

    # A different payload under the same approval: the digest differs, refused.
    other = [*command[:-1], json.dumps({"email": "someone.else@example.com"})]
    wrong = run(*other, "--approval", request, "--yes", config=path, who="alice")
    assert wrong.returncode == 3 and "world changed" in wrong.stderr, wrong.stderr

    again = run(*command, "--approval", request, "--yes", "-o", "json", config=path, who="alice")
    assert again.returncode == 0, again.stderr
    history = [e async for e in client.get_workflow_handle(wid).fetch_history_events()]
    signals = [
        e.workflow_execution_signaled_event_attributes
        for e in history
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert [s.signal_name for s in signals] == ["approve"]
    assert email not in again.stdout
