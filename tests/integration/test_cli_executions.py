"""`opsdeck` as a subprocess against the real dev server: list, describe, terminate, errors."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from console.sandbox.devserver import DevServer, free_port
from tests.conftest import Demo

pytestmark = pytest.mark.integration

OPSDECK = str(Path(sys.executable).parent / "opsdeck")
TASK_QUEUE = "cli-tests-no-worker"  # nobody polls it: the workflows stay running


def opsdeck(*args: str, config: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OPSDECK_CONFIG=str(config))
    return subprocess.run(
        [OPSDECK, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def config(tmp_path: Path, temporal_server: DevServer) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""\
current-context: local
identity: ci@example.com
contexts:
  local:
    engines:
      - kind: temporal
        address: {temporal_server.address}
        http-address: {temporal_server.http_address}
        namespace: default
  sdk-only:
    engines:
      - kind: temporal
        address: {temporal_server.address}
        namespace: default
  dead:
    engines:
      - kind: temporal
        address: 127.0.0.1:{free_port()}
        namespace: default
"""
    )
    return path


@pytest.fixture
async def client(temporal_server: DevServer) -> AsyncIterator[Client]:
    yield await Client.connect(temporal_server.address, namespace="default")


async def start(client: Client) -> str:
    workflow_id = f"cli-{uuid.uuid4().hex[:10]}"
    await client.start_workflow("CliTestWorkflow", id=workflow_id, task_queue=TASK_QUEUE)
    return workflow_id


async def wait_listed(
    workflow_id: str, config: Path, deadline: float = 20
) -> list[dict[str, object]]:
    """Visibility is eventually consistent: poll until the list shows the workflow."""
    end = time.monotonic() + deadline
    while True:
        done = opsdeck(
            "executions",
            "list",
            "-o",
            "json",
            "--query",
            f"WorkflowId = '{workflow_id}'",
            config=config,
        )
        assert done.returncode == 0, done.stderr
        rows: list[dict[str, object]] = json.loads(done.stdout)
        if rows or time.monotonic() > end:
            return rows
        await _pause()


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.2)


async def status_of(client: Client, workflow_id: str) -> WorkflowExecutionStatus | None:
    return (await client.get_workflow_handle(workflow_id).describe()).status


async def wait_status(
    client: Client, workflow_id: str, expected: WorkflowExecutionStatus, deadline: float = 20
) -> None:
    end = time.monotonic() + deadline
    while (status := await status_of(client, workflow_id)) != expected:
        assert time.monotonic() < end, f"{workflow_id} is {status}, expected {expected}"
        await _pause()


async def test_list_json(client: Client, config: Path) -> None:
    workflow_id = await start(client)
    (row,) = await wait_listed(workflow_id, config)
    assert row["workflow_id"] == workflow_id
    assert row["workflow_type"] == "CliTestWorkflow"
    assert row["status"] == "running"
    assert row["task_queue"] == TASK_QUEUE
    assert str(row["ref"]).startswith(f"temporal:default/{workflow_id}/")
    assert str(row["start_time"]).endswith("Z")
    # the SDK path (no http-address) gives the same row
    done = opsdeck(
        "-c",
        "sdk-only",
        "executions",
        "list",
        "-o",
        "json",
        "--query",
        f"WorkflowId = '{workflow_id}'",
        config=config,
    )
    assert done.returncode == 0, done.stderr
    assert [r["ref"] for r in json.loads(done.stdout)] == [row["ref"]]


async def test_describe_and_history(client: Client, config: Path) -> None:
    workflow_id = await start(client)
    done = opsdeck("executions", "describe", workflow_id, "-o", "json", config=config)
    assert done.returncode == 0, done.stderr
    detail = json.loads(done.stdout)
    assert detail["workflow_id"] == workflow_id and detail["status"] == "running"
    done = opsdeck("executions", "describe", f"temporal:default/{workflow_id}", config=config)
    assert done.returncode == 0 and "running" in done.stdout
    done = opsdeck("executions", "history", workflow_id, "-o", "json", config=config)
    assert done.returncode == 0, done.stderr
    events = json.loads(done.stdout)
    assert events[0]["event_id"] == 1
    assert events[0]["event_type"] == "WorkflowExecutionStarted"


async def test_terminate_dry_run_then_yes(client: Client, config: Path, tmp_path: Path) -> None:
    workflow_id = await start(client)
    done = opsdeck("executions", "terminate", workflow_id, "--dry-run", config=config)
    assert done.returncode == 0, done.stderr
    assert f"temporal:default/{workflow_id}" in done.stdout and "Dry run" in done.stdout
    assert await status_of(client, workflow_id) == WorkflowExecutionStatus.RUNNING
    audit_db = tmp_path / "data" / "opsdeck" / "audit.db"
    assert not audit_db.exists()

    done = opsdeck("executions", "terminate", workflow_id, config=config)  # no TTY, no --yes
    assert done.returncode == 2 and "--yes" in done.stderr
    assert await status_of(client, workflow_id) == WorkflowExecutionStatus.RUNNING

    done = opsdeck(
        "-o",
        "json",
        "executions",
        "terminate",
        workflow_id,
        "--yes",
        "--reason",
        "cli test",
        config=config,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["report"]
    assert [o["outcome"] for o in report["outcomes"]] == ["ok"]
    await wait_status(client, workflow_id, WorkflowExecutionStatus.TERMINATED)

    done = opsdeck("audit", "list", "-o", "json", config=config)
    (record,) = json.loads(done.stdout)
    assert record["action"] == "terminate" and record["outcome"] == "ok"
    assert record["target"].startswith(f"temporal:default/{workflow_id}")
    assert record["reason"] == "cli test" and record["identity"] == "ci@example.com"
    assert record["request_id"] == report["request_id"]
    done = opsdeck("audit", "verify", config=config)
    assert done.returncode == 0, done.stderr

    # an attacker alters the record: verify names it
    db = sqlite3.connect(audit_db)
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("UPDATE audit SET reason = 'nothing to see' WHERE id = ?", (record["id"],))
    db.commit()
    db.close()
    done = opsdeck("audit", "verify", config=config)
    assert done.returncode == 1
    assert f"record {record['id']}" in done.stderr


async def test_unreachable_server_is_one_line(config: Path) -> None:
    for verb in (["executions", "list"], ["executions", "describe", "x"]):
        done = opsdeck("-c", "dead", *verb, config=config, timeout=60)
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("opsdeck: Backend unreachable: temporal at 127.0.0.1:")
        assert "Traceback" not in done.stderr


async def test_unknown_execution_exit_1(config: Path) -> None:
    done = opsdeck("executions", "describe", "no-such-workflow-42", config=config)
    assert done.returncode == 1
    assert done.stderr.startswith("opsdeck: Not found:")
    assert len(done.stderr.strip().splitlines()) == 1


async def test_malformed_config_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("contexts:\n  x:\n    engines:\n      - kind: temporal\n        address: [\n")
    done = opsdeck("executions", "list", config=bad)
    assert done.returncode == 2
    assert done.stderr.startswith(f"opsdeck: Configuration error: {bad}:6:1: YAML syntax error")
    bad.write_text("contexts:\n  x:\n    engines:\n      - namespace: default\n")
    done = opsdeck("executions", "list", config=bad)
    assert done.returncode == 2
    assert f"{bad}:4: contexts.x.engines[0].kind: required" in done.stderr


async def test_unknown_context_exit_2(config: Path) -> None:
    done = opsdeck("--context", "staging", "executions", "list", config=config)
    assert done.returncode == 2
    assert "unknown context 'staging'; known contexts: dead, local, sdk-only" in done.stderr


async def test_describe_says_no_limit_for_an_unlimited_retry_policy(
    config: Path, demo: Demo
) -> None:
    done = opsdeck("executions", "describe", demo.ids.stuck_activity, config=config)
    assert done.returncode == 0, done.stderr
    (row,) = [line for line in done.stdout.splitlines() if "call_payment_gateway" in line]
    assert "no limit" in row
    done = opsdeck("-o", "json", "executions", "describe", demo.ids.stuck_activity, config=config)
    (activity,) = json.loads(done.stdout)["pending_activities"]
    assert activity["maximum_attempts"] == 0
