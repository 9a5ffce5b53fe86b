"""check_slo against the real dev server: the value from visibility, the reason, a scope
query ANDed to the SLO's own scope, and ``since`` moving the window's start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.errors import UsageError
from console.model import ExecutionStatus, ListQuery
from console.sandbox.devserver import DevServer
from console.session import open_session
from console.slo import evaluate as evaluate_module
from console.slo.check import check_slo, evaluate_named
from tests.conftest import Demo, eventually
from tests.integration.slo_scenario import runs, write_config

pytestmark = pytest.mark.integration


async def test_success_rate_from_visibility(
    temporal_server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with runs(temporal_server.address) as r:
        await r.start("completed", 4)
        await r.start("failed", 3)
        path = write_config(
            tmp_path, temporal_server.address, temporal_server.http_address,
            f"      orders:\n        query: \"{r.query}\"\n        success-rate: 99.5%\n",
        )  # fmt: skip
        session = open_session(config_path=path)
        try:
            check = await check_slo(session, "orders")
            assert (check.name, check.ok, check.good, check.total) == ("orders", False, 4, 7)
            assert check.value == pytest.approx(4 / 7)
            assert check.objective == 0.995
            assert check.reason == "success rate 57.14% < 99.5% over 7 executions in the last 30d"
            assert check.alert == "page"  # 3 of 7 failed within 5 minutes: burn ~86
            # ANDed scope: the completed ones alone meet the objective.
            only_good = await check_slo(
                session, "orders", scope_query="WorkflowType = 'DemoCompleted'"
            )
            assert (only_good.ok, only_good.value, only_good.total) == (True, 1.0, 4)
            # since: nothing closed after now.
            later = await check_slo(
                session, "orders", since=datetime.now(UTC) + timedelta(seconds=1)
            )
            assert (later.ok, later.value, later.total) == (True, None, 0)
            assert later.reason.startswith("no executions closed since ")
            # Every window by counts (as above 2,000 executions): one GROUP BY call each.
            monkeypatch.setattr(evaluate_module, "LIST_BELOW", 0)
            counted = await evaluate_named(session, "orders")
            assert (counted.counts.good, counted.counts.total) == (4, 7)
            assert counted.burn == check.report.burn if check.report else False
            assert counted.series == check.report.series if check.report else False
            assert counted.calls == 1 + 1 + 4 + 24  # the first count, the window, 4, 24
            engine = session.engines["temporal"]
            assert await engine.count_by_status(ListQuery(raw=r.query)) == {  # type: ignore[attr-defined]
                ExecutionStatus.COMPLETED: 4,
                ExecutionStatus.FAILED: 3,
            }
            with pytest.raises(UsageError, match=r"no SLO 'nope' \(SLOs: orders\)"):
                await check_slo(session, "nope")
        finally:
            await session.close()


async def test_a_context_name_opens_its_own_session(
    temporal_server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with runs(temporal_server.address) as r:
        await r.start("completed", 2)
        path = write_config(
            tmp_path, temporal_server.address, temporal_server.http_address,
            f"      orders:\n        query: \"{r.query}\"\n        success-rate: 90\n",
        )  # fmt: skip
        monkeypatch.setenv("OPSDECK_CONFIG", str(path))
        check = await check_slo("t", "orders")
        assert (check.ok, check.value, check.total, check.objective) == (True, 1.0, 2, 0.9)
        assert check.reason == "success rate 100.0% >= 90.0% over 2 executions in the last 30d"


async def test_scope_query_by_worker_deployment_version(demo: Demo, tmp_path: Path) -> None:
    """The rollout's scope: ``TemporalWorkerDeploymentVersion = 'orders:v3'`` (the name and
    ``deployment:build`` form the dev server indexes), ANDed to the SLO's own scope."""
    import uuid

    from temporalio.client import Client
    from temporalio.common import PinnedVersioningOverride, WorkerDeploymentVersion

    address = demo.address
    client = await Client.connect(address, namespace="default")
    prefix = f"slo-v3-{uuid.uuid4().hex[:8]}"
    v3 = PinnedVersioningOverride(WorkerDeploymentVersion("orders", "v3"))
    for n in range(2):
        await client.start_workflow(
            "OrderWorkflow", f"{prefix}-{n}", id=f"{prefix}-{n}", task_queue="orders",
            versioning_override=v3,
        )  # fmt: skip
    mine = f"WorkflowId STARTS_WITH '{prefix}'"

    async def closed() -> bool:
        done = await client.count_workflows(f"{mine} AND ExecutionStatus != 'Running'")
        return done.count == 2

    await eventually(closed, timeout=60, what="both v3 orders closed")
    path = write_config(
        tmp_path, address, demo.http_address,
        f"      orders:\n        query: \"{mine}\"\n        success-rate: 99%\n",
    )  # fmt: skip
    session = open_session(config_path=path)
    try:
        v3_only = "TemporalWorkerDeploymentVersion = 'orders:v3'"
        check = await check_slo(session, "orders", scope_query=v3_only)
        assert (check.ok, check.value, check.total) == (False, 0.0, 2)
        v1_only = "TemporalWorkerDeploymentVersion = 'orders:v1'"
        other = await check_slo(session, "orders", scope_query=v1_only)
        assert (other.ok, other.total) == (True, 0)
    finally:
        await session.close()
