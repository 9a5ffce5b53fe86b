"""Changes through `opsdeck` on the real dev server: signal, batch terminate, partial failure."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from console.sandbox.devserver import DevServer

from .test_cli_executions import TASK_QUEUE, opsdeck, wait_status

pytestmark = pytest.mark.integration


@pytest.fixture
def config(tmp_path: Path, temporal_server: DevServer) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""\
current-context: local
pii-fields: [email]
contexts:
  local:
    engines:
      - kind: temporal
        address: {temporal_server.address}
        http-address: {temporal_server.http_address}
        namespace: default
        batch-threshold: 2
"""
    )
    return path


@pytest.fixture
async def client(temporal_server: DevServer) -> AsyncIterator[Client]:
    yield await Client.connect(temporal_server.address, namespace="default")


async def start(client: Client, workflow_type: str = "CliTestWorkflow") -> str:
    workflow_id = f"cli-{uuid.uuid4().hex[:10]}"
    await client.start_workflow(workflow_type, id=workflow_id, task_queue=TASK_QUEUE)
    return workflow_id


async def test_signal_is_delivered_and_audited_masked(client: Client, config: Path) -> None:
    workflow_id = await start(client)
    payload = json.dumps({"email": "bob@example.com", "approved": True})
    done = opsdeck(
        "executions",
        "signal",
        workflow_id,
        "approve",
        "--input",
        payload,
        "--dry-run",
        config=config,
    )
    assert done.returncode == 0, done.stderr
    assert "bob@example.com" not in done.stdout
    done = opsdeck(
        "executions", "signal", workflow_id, "approve", "--input", payload, "--yes", config=config
    )
    assert done.returncode == 0, done.stderr
    handle = client.get_workflow_handle(workflow_id)
    signaled = [
        e
        async for e in handle.fetch_history_events()
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert signaled[0].workflow_execution_signaled_event_attributes.signal_name == "approve"
    done = opsdeck("audit", "export", "--format", "jsonl", config=config)
    (record,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert record["action"] == "signal"
    assert "bob@example.com" not in done.stdout and record["parameters"]["input"]["email"] == "***"


async def test_terminate_by_query_runs_as_batch_job(client: Client, config: Path) -> None:
    workflow_type = f"CliBatch{uuid.uuid4().hex[:8]}"
    ids = [await start(client, workflow_type) for _ in range(3)]
    query = f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Running'"
    deadline = time.monotonic() + 20
    while True:  # visibility is eventually consistent
        done = opsdeck("-o", "json", "executions", "list", "--query", query, config=config)
        if len(json.loads(done.stdout)) == 3:
            break
        assert time.monotonic() < deadline, done.stdout
        await asyncio.sleep(0.2)
    done = opsdeck(
        "-o",
        "json",
        "executions",
        "terminate",
        "--query",
        query,
        "--yes",
        "--reason",
        "batch",
        config=config,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["plan"]["batch"] is True
    assert sorted(t.split("/")[1] for t in result["plan"]["targets"]) == sorted(ids)
    assert {o["outcome"] for o in result["report"]["outcomes"]} <= {"ok", "submitted"}
    for workflow_id in ids:
        await wait_status(client, workflow_id, WorkflowExecutionStatus.TERMINATED)
    done = opsdeck(
        "-o", "json", "audit", "list", "--request-id", result["report"]["request_id"], config=config
    )
    assert len(json.loads(done.stdout)) == len(result["report"]["outcomes"])


async def test_already_closed_target_is_skipped(client: Client, config: Path) -> None:
    """Terminating a closed run changes nothing: SKIPPED, recorded, and exit 0."""
    closed, running = await start(client), await start(client)
    await client.get_workflow_handle(closed).terminate("closed first")
    done = opsdeck("executions", "terminate", closed, running, "--yes", config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SKIPPED   temporal:default/{closed}" in done.stdout
    assert f"OK        temporal:default/{running}" in done.stdout
    await wait_status(client, running, WorkflowExecutionStatus.TERMINATED)
    done = opsdeck("-o", "json", "audit", "list", config=config)
    outcomes = sorted(r["outcome"] for r in json.loads(done.stdout))
    assert outcomes == ["ok", "skipped"]


async def test_cancel_of_a_closed_run_is_skipped_and_counted_apart(
    client: Client, config: Path
) -> None:
    closed = await start(client)
    await client.get_workflow_handle(closed).terminate("closed first")
    done = opsdeck("executions", "cancel", closed, "--yes", config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SKIPPED   temporal:default/{closed}" in done.stdout
    assert "already closed (terminated)" in done.stdout
    assert "0 done, 1 skipped, 0 failed" in done.stdout
    done = opsdeck("-o", "json", "executions", "cancel", closed, "--yes", config=config)
    counts = json.loads(done.stdout)["report"]["counts"]
    assert counts == {"ok": 0, "failed": 0, "skipped": 1, "submitted": 0}
    done = opsdeck("-o", "json", "audit", "list", config=config)
    assert {r["outcome"] for r in json.loads(done.stdout)} == {"skipped"}


async def test_retry_dry_run_of_a_replaced_run_says_it_is_skipped(
    client: Client, config: Path
) -> None:
    workflow_id = await start(client)
    handle = client.get_workflow_handle(workflow_id)
    old_run = (await handle.describe()).run_id
    await handle.terminate("closed first")
    await client.start_workflow("CliTestWorkflow", id=workflow_id, task_queue=TASK_QUEUE)
    ref = f"temporal:default/{workflow_id}/{old_run}"
    done = opsdeck("executions", "retry", ref, "--dry-run", config=config)
    assert done.returncode == 0, done.stderr
    assert f"Warning: {ref}: skipped, run {old_run[:8]} is terminated and no longer" in done.stdout
    done = opsdeck("executions", "retry", ref, "--yes", config=config)
    assert "0 done, 1 skipped, 0 failed" in done.stdout, done.stdout
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
