"""The shipped runbooks, run through `opsdeck runbook` on the real dev server (demo fixture).

Tests that change state use their own workflows (or restore what they changed), so the
shared demo stays as the other tests expect it.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from adapters.temporal import TemporalEngine
from console.audit import AuditJournal, default_audit_path
from console.model import (
    ActionKind,
    ActionRequest,
    ExecutionRef,
    ListQuery,
    StuckRule,
    StuckRules,
)
from console.sandbox.devserver import DevServer
from tests.conftest import Demo, eventually, make_temporal_engine

from .test_cli_executions import opsdeck

pytestmark = pytest.mark.integration
CUSTOMER = SearchAttributeKey.for_keyword("CustomerId")


def write_config(tmp_path: Path, server: DevServer) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""\
current-context: local
identity: alice@example.com
contexts:
  local:
    engines:
      - kind: temporal
        address: {server.address}
        http-address: {server.http_address}
        namespace: default
"""
    )
    return path


@pytest.fixture
def config(tmp_path: Path, temporal_server: DevServer) -> Path:
    return write_config(tmp_path, temporal_server)


@pytest.fixture
async def client(temporal_server: DevServer) -> AsyncIterator[Client]:
    yield await Client.connect(temporal_server.address, namespace="default")


def result(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(done.stdout)
    return data


async def test_stuck_workflows_finds_and_retries_our_own_stuck_runs(
    client: Client, config: Path, demo: Demo, temporal_server: DevServer
) -> None:
    tag = f"rb-{uuid.uuid4().hex[:8]}"
    attrs = TypedSearchAttributes([SearchAttributePair(CUSTOMER, tag)])
    handles: list[WorkflowHandle] = [
        await client.start_workflow(
            "DemoStuckActivity",
            f"{tag}-{i}",
            id=f"{tag}-{i}",
            task_queue="demo",
            search_attributes=attrs,
        )
        for i in range(2)
    ]
    engine = make_temporal_engine(temporal_server)
    query = f"CustomerId = '{tag}'"
    rules = StuckRules(activity_attempts=2, enabled=frozenset({StuckRule.ACTIVITY_RETRYING}))

    async def both_stuck() -> bool:
        hits = {
            h.execution.ref.workflow_id
            async for h in engine.find_stuck(rules, ListQuery(raw=query))
        }
        return len(hits) == 2

    await eventually(both_stuck, timeout=45, what="both runs stuck")
    first_runs = [(await h.describe()).run_id for h in handles]
    try:
        params = ["--param", f"query={query}", "--param", "activity_attempts=2"]
        # no terminal, no --yes: stops at the plan and says how to go on
        waiting = opsdeck("runbook", "run", "stuck-workflows", *params, "-o", "json", config=config)
        assert waiting.returncode == 2, waiting.stderr
        data = result(waiting)
        assert data["status"] == "waiting" and data["waiting"]["kind"] == "confirm"
        assert sorted(data["waiting"]["plan"]["targets"]) == sorted(
            f"temporal:default/{h.id}/{r}" for h, r in zip(handles, first_runs, strict=True)
        )
        find = data["steps"][0]
        assert find["result"]["count"] == 2
        assert all("attempt" in item["evidence"] for item in find["result"]["items"])
        assert data["steps"][2]["id"] == "pollers" and data["steps"][2]["state"] == "done"
        assert "--yes" in waiting.stderr

        done = opsdeck("runbook", "resume", data["id"], "--yes", "-o", "json", config=config)
        assert done.returncode == 0, done.stderr
        data = result(done)
        assert data["status"] == "done"
        retry = next(s for s in data["steps"] if s["id"] == "retry")
        assert retry["result"]["done"] == 2
        for handle, old in zip(handles, first_runs, strict=True):
            assert (await handle.describe()).run_id != old  # reset: a new run
        # the subprocess shares XDG_DATA_HOME with this test (autouse isolation fixture)
        audit = AuditJournal(default_audit_path())
        records = audit.list(run_id=data["id"])
        assert len(records) == 2 and {r.action for r in records} == {"retry"}
        assert {r.identity for r in records} == {"alice@example.com"}
        audit.close()
    finally:
        for handle in handles:
            await handle.terminate("test cleanup")


async def test_bad_deploy_rollback_rolls_back_and_new_runs_use_the_old_version(
    client: Client, config: Path, demo: Demo, temporal_engine: TemporalEngine
) -> None:
    common = ["--param", "status=running", "-o", "json"]
    # without a decision: exit 2 naming the step
    missing = opsdeck("runbook", "run", "bad-deploy-rollback", *common, config=config)
    assert missing.returncode == 2
    assert "step 'decide' needs a decision" in missing.stderr
    data = result(missing)
    by_version = data["steps"][0]["result"]["by_version"]
    assert by_version.get("orders:v2", 0) >= 1  # the seeded demo-orders
    steps = {s["id"]: s for s in data["steps"]}
    assert steps["error-rate"]["state"] == "skipped"  # no error_rate expression given
    assert steps["before"]["result"]["current"] == "v2"

    started: list[WorkflowHandle] = []
    try:
        run = opsdeck(
            "runbook",
            "run",
            "bad-deploy-rollback",
            *common,
            "--answer",
            "decide=rollback",
            "--answer",
            "rollback=yes",
            config=config,
        )
        assert run.returncode == 2, run.stderr  # waits at the manual "traffic" step
        data = result(run)
        assert data["waiting"]["step"] == "traffic"
        states = {s["id"]: s["state"] for s in data["steps"]}
        assert states["rollback"] == "done" and states["routed"] == "done"
        current = [v.version for v in await temporal_engine.versions("orders") if v.is_current]
        assert current == ["v1"]

        handle = await client.start_workflow(
            "OrderWorkflow", "rb-order", id=f"rb-order-{uuid.uuid4().hex[:8]}", task_queue="orders"
        )
        started.append(handle)

        async def on_a_version() -> str | None:
            info = await temporal_engine.describe(ExecutionRef("temporal", "default", handle.id))
            return info.build_id or None

        assert await eventually(on_a_version, what="new run picked up") == "v1"
        done = opsdeck(
            "runbook", "resume", data["id"], "--answer", "traffic=done", "-o", "json", config=config
        )
        assert done.returncode == 0, done.stderr
        data = result(done)
        verify = data["steps"][-1]
        assert verify["state"] == "done" and verify["result"]["builds"] == ["v1"]
        audit = AuditJournal(default_audit_path())
        (record,) = audit.list(run_id=data["id"])
        assert record.action == "rollback" and record.target.endswith("deployment/orders")
        audit.close()
    finally:
        for h in started:
            await h.terminate("test cleanup")
        restore = await temporal_engine.plan(
            ActionRequest(
                ActionKind.ROLLBACK, (), "restore", {"deployment": "orders", "version": "v2"}
            )
        )
        [o async for o in temporal_engine.apply(restore, str(uuid.uuid4()))]
    current = [v.version for v in await temporal_engine.versions("orders") if v.is_current]
    assert current == ["v2"]
