"""The Chaos Toolkit extension (chaos.actions) against a real sandbox and RabbitMQ.

The module's own sandbox (``console.sandbox.up``: dev server + seeded demo workers,
data dir in tmp) is stopped and restarted by the tests, so it is not the session's
shared ``demo`` fixture. Each action and its rollback are observed on the server, and
each writes one audit record under the run id.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from chaos import _context as ctx
from chaos import actions, probes
from console import sandbox
from console.audit import AuditJournal
from console.errors import PolicyDenied, Unsupported, UsageError
from console.sandbox import faults
from tests.conftest import eventually
from tests.integration.chaos_fixtures import (
    chaos_sandbox,
    configuration,
    prometheus_url,
    write_config,
)
from tests.integration.rabbit_fixtures import DeadLetterSetup, rabbit_fixture

__all__ = ["chaos_sandbox", "configuration", "prometheus_url", "rabbit_fixture"]


def audit_actions(run_id: str) -> list[tuple[str, str]]:
    records = AuditJournal().list(run_id=run_id)
    return [(r.action, r.outcome) for r in reversed(records)]


async def test_inject_faults_fails_payment_and_clear_faults_lets_it_complete(
    chaos_sandbox: sandbox.SandboxState, configuration: dict[str, Any]
) -> None:
    client = await Client.connect(chaos_sandbox.address)
    result = actions.inject_faults("payment", 1.0, 50, configuration=configuration)
    assert result["activity"] == "charge_card" and result["previous"] is None
    switch = faults.read_faults(Path(chaos_sandbox.data_dir) / "faults.json")
    assert switch == {"charge_card": faults.Fault(1.0, 50)}
    handle = await client.start_workflow(
        "DemoCompleted", "o-1", id=f"chaos-pay-{uuid.uuid4().hex[:6]}", task_queue="demo"
    )

    async def failing() -> bool:
        pending = (await handle.describe()).raw_description.pending_activities
        return bool(pending) and "injected fault" in pending[0].last_failure.message

    await eventually(failing, what="charge_card failing with the injected fault")
    rolled = actions.clear_faults("payment", configuration=configuration)
    assert rolled["removed"] == {"charge_card": {"failure_rate": 1.0, "latency_ms": 50}}
    assert faults.read_faults(Path(chaos_sandbox.data_dir) / "faults.json") == {}
    assert await handle.result(rpc_timeout=timedelta(seconds=30)) == "charged o-1"
    assert audit_actions(configuration["opsdeck_run_id"]) == [
        ("chaos.inject_faults", "ok"),
        ("chaos.rollback.clear_faults", "ok"),
    ]


async def test_injected_latency_slows_each_attempt(
    chaos_sandbox: sandbox.SandboxState, configuration: dict[str, Any]
) -> None:
    client = await Client.connect(chaos_sandbox.address)
    actions.inject_faults("charge_card", 0.0, 600, configuration=configuration)
    try:
        handle = await client.start_workflow(
            "DemoCompleted", "o-2", id=f"chaos-slow-{uuid.uuid4().hex[:6]}", task_queue="demo"
        )
        assert await handle.result(rpc_timeout=timedelta(seconds=30)) == "charged o-2"
    finally:
        actions.clear_faults("charge_card", configuration=configuration)
    events = {e.event_type: e.event_time.ToDatetime() async for e in handle.fetch_history_events()}
    started, completed = (
        events[EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED],
        events[EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED],
    )
    assert (completed - started).total_seconds() >= 0.6


def test_inject_faults_refuses_a_context_that_is_not_a_sandbox(
    tmp_path: Path, chaos_sandbox: sandbox.SandboxState, configuration: dict[str, Any]
) -> None:
    path = Path(configuration["opsdeck_config"])
    text = path.read_text().replace("sandbox: true", "sandbox: false")
    path.write_text(text.split("    queues:")[0])  # the guest login needs a sandbox
    with pytest.raises(Unsupported, match="not marked `sandbox: true`"):
        actions.inject_faults("payment", 0.5, configuration=configuration)
    assert faults.read_faults(Path(chaos_sandbox.data_dir) / "faults.json") == {}
    assert audit_actions(configuration["opsdeck_run_id"]) == [("chaos.inject_faults", "failed")]


def test_stop_and_start_demo_worker(
    chaos_sandbox: sandbox.SandboxState, configuration: dict[str, Any]
) -> None:
    data_dir = Path(chaos_sandbox.data_dir)
    before = sandbox.status(data_dir)
    assert before is not None and before.healthy
    stopped = actions.stop_demo_worker(configuration=configuration)
    assert stopped == {"stopped_pid": before.workers_pid, "was_running": True}
    after = sandbox.status(data_dir)
    assert after is not None and after.server_running and not after.workers_running
    started = actions.start_demo_worker(configuration=configuration)
    again = sandbox.status(data_dir)
    assert again is not None and again.healthy and again.workers_pid == started["workers_pid"]
    assert again.workers_pid != before.workers_pid
    assert audit_actions(configuration["opsdeck_run_id"]) == [
        ("chaos.stop_demo_worker", "ok"),
        ("chaos.rollback.start_demo_worker", "ok"),
    ]


async def test_set_ramping_version_and_restore_ramping(
    chaos_sandbox: sandbox.SandboxState, configuration: dict[str, Any]
) -> None:
    session, _ = ctx.session_and_run(configuration)
    engine: Any = session.engines["temporal"]

    def ramp() -> Any:
        return ctx.run(engine.ramping("orders"))

    assert ramp().ramping is None and ramp().current == "v2"
    result = actions.set_ramping_version("orders", "v1", 30, configuration=configuration)
    assert result["previous"] == {
        "deployment": "orders",
        "current": "v2",
        "ramping": None,
        "percentage": 0.0,
    }
    assert (ramp().ramping, ramp().percentage) == ("v1", 30.0)
    ctx.forget()  # the previous state comes from the audit, as after a crash
    actions.restore_ramping("orders", configuration=configuration)
    assert (ramp().ramping, ramp().current) == (None, "v2")
    assert audit_actions(configuration["opsdeck_run_id"]) == [
        ("chaos.set_ramping_version", "ok"),
        ("chaos.rollback.restore_ramping", "ok"),
    ]
    targets = {r.target for r in AuditJournal().list(run_id=configuration["opsdeck_run_id"])}
    assert targets == {"temporal:deployment/orders"}


async def test_pause_and_unpause_activity(
    chaos_sandbox: sandbox.SandboxState, configuration: dict[str, Any]
) -> None:
    """On the stuck demo's activity (the dev server has the activity API, Server 1.32)."""
    client = await Client.connect(chaos_sandbox.address)
    handle = client.get_workflow_handle("demo-stuck-activity")

    async def paused() -> bool:
        pending = (await handle.describe()).raw_description.pending_activities
        return bool(pending) and pending[0].paused

    actions.pause_activity(
        "demo-stuck-activity", "call_payment_gateway", configuration=configuration
    )
    await eventually(paused, what="activity paused")
    actions.unpause_activity(
        "demo-stuck-activity", "call_payment_gateway", configuration=configuration
    )

    async def unpaused() -> bool:
        return not await paused()

    await eventually(unpaused, what="activity unpaused")
    assert audit_actions(configuration["opsdeck_run_id"]) == [
        ("chaos.pause_activity", "ok"),
        ("chaos.rollback.unpause_activity", "ok"),
    ]


def test_publish_and_purge_exactly_the_poison_messages(
    rabbit: DeadLetterSetup, configuration: dict[str, Any], chaos_sandbox: sandbox.SandboxState
) -> None:
    path, url = Path(configuration["opsdeck_config"]), configuration["opsdeck_prometheus"]
    write_config(path, chaos_sandbox, url, rabbit.dlq)
    before = rabbit.dead_letter(2)  # messages that were there already stay
    result = actions.publish_poison_messages(rabbit.dlq, 3, configuration=configuration)
    assert len(set(result["message_ids"])) == 3 and result["backend"] == "rabbit"
    rabbit.wait_depth(rabbit.dlq, 5)
    ctx.forget()  # the rollback finds the ids in the audit, as after a crash
    rolled = actions.purge_poison_messages(rabbit.dlq, configuration=configuration)
    assert sorted(rolled["removed"]) == sorted(result["message_ids"])
    rabbit.wait_depth(rabbit.dlq, 2)
    assert [p.message_id for p, _ in rabbit.read_all(rabbit.dlq)] == before
    assert audit_actions(configuration["opsdeck_run_id"]) == [
        ("chaos.publish_poison_messages", "ok"),
        ("chaos.rollback.purge_poison_messages", "ok"),
    ]
    targets = {r.target for r in AuditJournal().list(run_id=configuration["opsdeck_run_id"])}
    assert targets == {f"rabbit:{rabbit.dlq}"}


# -- probes ------------------------------------------------------------------------------


async def test_stuck_count_sees_the_stuck_demos(configuration: dict[str, Any]) -> None:
    async def stuck() -> int | None:
        count = probes.stuck_count(configuration=configuration)
        return count if count >= 2 else None  # stuck activity + failing workflow task

    await eventually(stuck, what="two stuck demos")
    assert probes.stuck_count("activity_retrying", configuration=configuration) >= 1
    with pytest.raises(UsageError, match="unknown stuck rule 'nope'"):
        probes.stuck_count("nope", configuration=configuration)


def test_success_rate_from_visibility_counts(configuration: dict[str, Any]) -> None:
    assert probes.success_rate("DemoCompleted", "1h", configuration=configuration) == 1.0
    assert probes.success_rate("DemoFailed", "1h", configuration=configuration) == 0.0
    assert probes.success_rate("NoSuchType", "10m", configuration=configuration) == 1.0
    with pytest.raises(UsageError, match="window"):
        probes.success_rate("DemoCompleted", "ten minutes", configuration=configuration)


async def test_latency_p95_from_prometheus(configuration: dict[str, Any]) -> None:
    async def p95() -> float | None:
        return probes.latency_p95(window="1m", configuration=configuration)

    value = await eventually(p95, timeout=60, what="p95 of the demo activity histogram")
    assert 0 < value <= 5  # the histogram's top bucket
    assert probes.latency_p95("vector(0.25)", configuration=configuration) == 0.25


async def test_task_queue_pollers_and_backlog(configuration: dict[str, Any]) -> None:
    async def polled() -> int | None:
        return probes.task_queue_pollers("demo", configuration=configuration) or None

    assert await eventually(polled, what="pollers on demo") >= 1
    assert probes.task_queue_pollers("demo-no-worker", configuration=configuration) == 0

    async def waiting() -> int | None:
        backlog = probes.task_queue_backlog(
            "demo-no-worker", "workflow", configuration=configuration
        )
        return backlog or None

    assert await eventually(waiting, what="backlog on demo-no-worker") >= 1


def test_dlq_depth_and_oldest_age(
    rabbit: DeadLetterSetup, configuration: dict[str, Any], chaos_sandbox: sandbox.SandboxState
) -> None:
    path, url = Path(configuration["opsdeck_config"]), configuration["opsdeck_prometheus"]
    write_config(path, chaos_sandbox, url, rabbit.dlq)
    assert probes.dlq_depth(rabbit.dlq, configuration=configuration) == 0
    assert probes.dlq_oldest_age_s(rabbit.dlq, configuration=configuration) == 0.0
    rabbit.dead_letter(3)
    assert probes.dlq_depth(rabbit.dlq, configuration=configuration) == 3
    assert probes.dlq_oldest_age_s(rabbit.dlq, configuration=configuration) >= 0.0
    with pytest.raises(UsageError, match="does not list"):
        probes.dlq_depth(rabbit.other, configuration=configuration)


# -- policy through the extension ---------------------------------------------------------


def test_blast_radius_counts_over_the_run_and_read_only_refuses(
    chaos_sandbox: sandbox.SandboxState, configuration: dict[str, Any]
) -> None:
    path = Path(configuration["opsdeck_config"])
    path.write_text(
        path.read_text().replace(
            "    sandbox: true\n", "    sandbox: true\n    chaos: {max-targets: 1}\n"
        )
    )
    actions.inject_faults("payment", 0.1, configuration=configuration)
    try:
        with pytest.raises(PolicyDenied, match="blast radius"):
            actions.inject_faults("call_payment_gateway", 0.1, configuration=configuration)
        switch = faults.read_faults(Path(chaos_sandbox.data_dir) / "faults.json")
        assert set(switch) == {"charge_card"}
    finally:
        actions.clear_faults("payment", configuration=configuration)
    assert audit_actions(configuration["opsdeck_run_id"]) == [
        ("chaos.inject_faults", "ok"),
        ("chaos.rollback.clear_faults", "ok"),
    ]  # a refusal before the change writes no record (console.actions.chaos)

    path.write_text(
        path.read_text().replace("    sandbox: true\n", "    sandbox: true\n    read-only: true\n")
    )
    read_only = {**configuration, "opsdeck_run_id": f"run-{uuid.uuid4().hex[:8]}"}
    with pytest.raises(PolicyDenied):
        actions.stop_demo_worker(configuration=read_only)
    state = sandbox.status(Path(chaos_sandbox.data_dir))
    assert state is not None and state.healthy
