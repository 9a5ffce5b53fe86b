"""`opsdeck executions terminate --query ... --rps N` on the real dev server: the plan a
person reads, the production gate, live progress, the report and the audit."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from console.sandbox.devserver import DevServer

from .test_cli_executions import TASK_QUEUE, opsdeck, wait_status

pytestmark = pytest.mark.integration


@pytest.fixture
def config(tmp_path: Path, temporal_server: DevServer) -> Path:
    engine = f"""\
    engines:
      - kind: temporal
        address: {temporal_server.address}
        http-address: {temporal_server.http_address}
        namespace: default
        batch-threshold: 2
"""
    path = tmp_path / "config.yaml"
    path.write_text(f"current-context: local\ncontexts:\n  local:\n{engine}  prod:\n"
                    f"    production: true\n{engine}")  # fmt: skip
    return path


async def start(temporal_server: DevServer, n: int) -> tuple[str, list[str]]:
    client = await Client.connect(temporal_server.address)
    workflow_type = f"CliBulk{uuid.uuid4().hex[:8]}"
    ids = [f"bulk-cli-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    for workflow_id in ids:
        await client.start_workflow(workflow_type, id=workflow_id, task_queue=TASK_QUEUE)
    return f"WorkflowType = '{workflow_type}'", ids


def running(query: str, config: Path) -> int:
    done = opsdeck("-o", "json", "executions", "count", "--query",
                   f"{query} AND ExecutionStatus = 'Running'", config=config)  # fmt: skip
    return int(json.loads(done.stdout)["total"])


async def wait_visible(query: str, n: int, config: Path) -> None:
    deadline = time.monotonic() + 20
    while running(query, config) != n:
        assert time.monotonic() < deadline, f"{n} running matches of {query} not visible"
        await asyncio.sleep(0.2)


async def test_production_bulk_terminate_by_query(temporal_server: DevServer, config: Path) -> None:
    query, ids = await start(temporal_server, 5)
    await wait_visible(query, 5, config)
    change = ["executions", "terminate", "--query", query, "--rps", "25", "--reason", "bulk"]
    done = opsdeck("-o", "json", "--context", "prod", *change, "--dry-run", config=config)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)["plan"]
    assert plan["batch"] is True and len(plan["targets"]) == 5
    assert plan["confirmation"] == "5 executions"
    assert plan["calls"][0]["params"]["rps"] == 25.0
    assert query in plan["calls"][0]["params"]["selection"]
    assert any("5 running executions match" in w for w in plan["warnings"])

    done = opsdeck("--context", "prod", *change, "--dry-run", config=config)
    assert "Plan: terminate 5 target(s) as one server-side batch job" in done.stdout
    assert done.stdout.count("selection=") == 1  # the shared params once, not per row
    assert "continues if this client goes away" in done.stdout

    done = opsdeck("--context", "prod", *change, "--yes", config=config)
    assert done.returncode == 3 and "5 executions" in done.stderr  # the typed phrase
    done = opsdeck("--context", "prod", *change, "--yes", "--confirm", "5 execution", config=config)
    assert done.returncode != 0
    assert running(query, config) == 5  # nothing changed

    done = opsdeck("--context", "prod", *change, "--yes", "--confirm", "5 executions",
                   config=config)  # fmt: skip
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stdout.splitlines() if line.startswith("batch job ")]
    assert progress and "completed, 5/5 done, 0 failed" in progress[-1]
    assert "5 done, 0 skipped, 0 failed" in done.stdout
    client = await Client.connect(temporal_server.address)
    for workflow_id in ids:
        await wait_status(client, workflow_id, WorkflowExecutionStatus.TERMINATED)
    request_id = done.stdout.split("request id ")[1].split(")")[0]
    audit = opsdeck("-o", "json", "audit", "list", "--request-id", request_id, config=config)
    records = json.loads(audit.stdout)
    assert len(records) == 5 and {r["outcome"] for r in records} == {"ok"}
    assert opsdeck("audit", "verify", config=config).returncode == 0


async def test_json_report_and_bad_rps(temporal_server: DevServer, config: Path) -> None:
    query, ids = await start(temporal_server, 3)
    await wait_visible(query, 3, config)
    for bad in ("0", "-2"):
        done = opsdeck("executions", "terminate", "--query", query, "--rps", bad, "--yes",
                       config=config)  # fmt: skip
        assert done.returncode == 2 and "--rps" in done.stderr
    done = opsdeck("executions", "terminate", ids[0], "--rps", "5", "--yes", config=config)
    assert done.returncode == 2 and "--rps" in done.stderr
    assert running(query, config) == 3  # nothing changed
    done = opsdeck("-o", "json", "executions", "cancel", "--query", query, "--yes",
                   config=config)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["report"]
    assert report["counts"]["submitted"] + report["counts"]["ok"] == 3
    job = report["outcomes"][-1]["details"]  # the job's counts: on the last outcome
    assert job["batch_job_id"] == report["request_id"] and job["total"] == 3
    assert not [line for line in done.stdout.splitlines() if line.startswith("batch job ")]


BULK_POLICY = """\
package opsdeck

import rego.v1

default decision := {"result": "allow", "reasons": []}

decision := {"result": "approve", "reasons": ["bulk by query needs a second person"]} if {
  input.action == "terminate"
  input.target_count > 3
  input.params.query != ""
}
"""


async def test_bulk_by_query_waits_for_an_approval_then_applies_the_same_job(
    tmp_path: Path, temporal_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bulk.rego").write_text(BULK_POLICY)
    path = tmp_path / "policy.yaml"
    path.write_text(
        f"current-context: prod\npolicy:\n  file: bulk.rego\ncontexts:\n  prod:\n"
        f"    engines:\n      - kind: temporal\n        address: {temporal_server.address}\n"
        f"        http-address: {temporal_server.http_address}\n        namespace: default\n"
        "        batch-threshold: 2\n"
    )
    query, ids = await start(temporal_server, 4)
    await wait_visible(query, 4, path)
    monkeypatch.delenv("OPSDECK_ID_TOKEN", raising=False)
    monkeypatch.setenv("OPSDECK_IDENTITY", "alice")
    filed = opsdeck("-o", "json", "executions", "terminate", "--query", query, "--yes",
                    config=path)  # fmt: skip
    assert filed.returncode == 3, filed.stderr
    doc = json.loads(filed.stdout)
    assert doc["plan"]["policy"]["reasons"] == ["bulk by query needs a second person"]
    assert len(doc["plan"]["targets"]) == 4  # the count the policy saw (> 3)
    request = str(doc["approval"]["id"])
    assert running(query, path) == 4  # filing changed nothing
    monkeypatch.setenv("OPSDECK_IDENTITY", "bob")
    assert opsdeck("approvals", "approve", request, config=path).returncode == 0
    monkeypatch.setenv("OPSDECK_IDENTITY", "alice")
    applied = opsdeck("-o", "json", "approvals", "apply", request, "--yes", config=path)
    assert applied.returncode == 0, applied.stderr
    report = json.loads(applied.stdout)["report"]
    assert report["counts"]["ok"] == 4
    assert {o["details"]["batch_job_id"] for o in report["outcomes"]} == {report["request_id"]}
    client = await Client.connect(temporal_server.address)
    for workflow_id in ids:
        await wait_status(client, workflow_id, WorkflowExecutionStatus.TERMINATED)
