"""opsdeck sandbox: up starts server and seeded workers, status sees them, down stops them."""

from __future__ import annotations

from pathlib import Path

from adapters.temporal import TemporalEngine
from console import sandbox
from console.model import ExecutionRef, ListQuery
from console.sandbox.devserver import stop_process
from tests.conftest import eventually


async def test_up_status_down(tmp_path: Path) -> None:
    data_dir = tmp_path / "sandbox"
    assert sandbox.status(data_dir) is None
    state = sandbox.up(data_dir, ui=False)
    try:
        assert state.healthy and (data_dir / "sandbox.json").exists()
        assert (data_dir / "temporal" / "temporal.db").exists()
        assert sandbox.up(data_dir, ui=False) == state  # idempotent: nothing restarted
        seen = sandbox.status(data_dir)
        assert seen is not None and seen.healthy and seen.workers_pid == state.workers_pid
        settings = sandbox.context_settings(state)
        assert settings["kind"] == "temporal" and settings["http-address"] == state.http_address
        engine = TemporalEngine.from_config("temporal", dict(settings), lambda ref: ref)

        async def seeded() -> set[str] | None:
            ids = {e.ref.workflow_id async for e in engine.list(ListQuery())}
            return (
                ids
                if set(state.demo_ids.values()) >= {"demo-orders"}
                and ({"demo-stuck-activity", "demo-no-worker", "demo-orders"} <= ids)
                else None
            )

        await eventually(seeded, what="demo workflows listed")
        detail = await engine.describe(ExecutionRef("temporal", "default", "demo-completed"))
        assert detail.execution.workflow_type == "DemoCompleted"
    finally:
        assert sandbox.down(data_dir)
    assert sandbox.status(data_dir) is None
    assert not sandbox.down(data_dir)  # nothing left to stop


def test_up_again_restarts_what_died_and_keeps_ports(tmp_path: Path) -> None:
    data_dir = tmp_path / "sandbox"
    first = sandbox.up(data_dir, ui=False)
    try:
        stop_process(first.workers_pid)  # workers crashed: only they are restarted
        half = sandbox.status(data_dir)
        assert half is not None and half.server_running and not half.healthy
        second = sandbox.up(data_dir, ui=False)
        assert second.server_pid == first.server_pid
        assert second.workers_pid != first.workers_pid and second.healthy
        sandbox.down(data_dir)
        third = sandbox.up(data_dir, ui=False)  # everything again, same ports, same data
        assert third.server_pid != first.server_pid
        assert (third.grpc_port, third.http_port) == (first.grpc_port, first.http_port)
        assert third.healthy
    finally:
        sandbox.down(data_dir)
