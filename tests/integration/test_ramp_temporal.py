"""`opsdeck versions ramp` on the real dev server with the sandbox's `orders` deployment.

Own namespace (`ramp-tests`) with its own demo workers, so the session's shared `demo`
deployment (tests/integration/*versions*, *rollback*) is never moved by these ramps.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeWorkerDeploymentRequest,
    RegisterNamespaceRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from console.audit import AuditJournal
from console.sandbox import start_workers, wait_ready
from console.sandbox import workflows as wf
from console.sandbox.devserver import DevServer, stop_process
from console.sandbox.workers import start_orders
from tests.conftest import eventually
from tests.integration.temporal_config import write_temporal_config

from .test_cli_executions import OPSDECK

pytestmark = pytest.mark.integration

NAMESPACE = "ramp-tests"


@pytest.fixture(scope="module")
def ramp_workers(
    temporal_server: DevServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Demo workers (orders v1, v2, bad v3; v2 current) in a namespace of their own."""

    async def register() -> None:
        client = await Client.connect(temporal_server.address, namespace="default")
        try:
            await client.workflow_service.register_namespace(
                RegisterNamespaceRequest(
                    namespace=NAMESPACE,
                    workflow_execution_retention_period=Duration(seconds=86400),
                )
            )
        except RPCError as exc:
            if "already" not in str(exc).lower():
                raise

        async def known() -> bool:
            try:
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=NAMESPACE)
                )
                return True
            except RPCError:
                return False

        await eventually(known, timeout=30, what=f"namespace {NAMESPACE}")

    asyncio.run(register())
    work = tmp_path_factory.mktemp("ramp-workers")
    log, ready = work / "workers.log", work / "workers.ready"
    pid = start_workers(temporal_server.address, NAMESPACE, log, ready)
    try:
        wait_ready(pid, ready, log, timeout=90)
        yield temporal_server.address
    finally:
        stop_process(pid)


@pytest.fixture
def config(tmp_path: Path, temporal_server: DevServer, ramp_workers: str) -> Path:
    return write_temporal_config(
        tmp_path / "config.yaml",
        temporal_server,
        namespace=NAMESPACE,
        after_engines="""
        slos:
          orders-success:
            query: "WorkflowType = 'OrderWorkflow'"
            success-rate: 95%
        """,
    )


@pytest.fixture
async def client(temporal_server: DevServer, ramp_workers: str) -> AsyncIterator[Client]:
    yield await Client.connect(temporal_server.address, namespace=NAMESPACE)


async def routing(client: Client) -> tuple[str, str, float]:
    resp = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(namespace=NAMESPACE, deployment_name="orders")
    )
    r = resp.worker_deployment_info.routing_config
    return (
        r.current_deployment_version.build_id,
        r.ramping_deployment_version.build_id,
        r.ramping_version_percentage,
    )


async def reset_routing(client: Client, current: str) -> None:
    """No ramp, ``current`` current: where each test starts."""
    service = client.workflow_service

    async def token() -> bytes:
        resp = await service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=NAMESPACE, deployment_name="orders")
        )
        return bytes(resp.conflict_token)

    if (await routing(client))[1]:
        await service.set_worker_deployment_ramping_version(
            SetWorkerDeploymentRampingVersionRequest(
                namespace=NAMESPACE, deployment_name="orders", build_id="",
                percentage=0, conflict_token=await token(),
            )
        )  # fmt: skip
    if (await routing(client))[0] != current:
        await service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=NAMESPACE, deployment_name="orders", build_id=current,
                conflict_token=await token(),
            )
        )  # fmt: skip
    assert await routing(client) == (current, "", 0)


def ramp_command(*args: str) -> list[str]:
    return [OPSDECK, "versions", "ramp", *args, "-y", "-o", "json"]


def run_cli(config: Path, *args: str, timeout: float = 120) -> tuple[int, dict[str, Any], str]:
    env = dict(os.environ, OPSDECK_CONFIG=str(config))
    done = subprocess.run(
        ramp_command(*args), capture_output=True, text=True, env=env, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    doc = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, doc, done.stderr


def spawn(config: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, OPSDECK_CONFIG=str(config))
    return subprocess.Popen(
        ramp_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def audit() -> AuditJournal:
    return AuditJournal(Path(os.environ["XDG_DATA_HOME"]) / "opsdeck" / "audit.db")


def ramp_records(ramp_id: str) -> list[tuple[str, str, Any]]:
    """(action, outcome, step) oldest first."""
    records = reversed(audit().list(limit=None, request_id=ramp_id))
    return [(r.action, r.outcome, r.parameters.get("step")) for r in records]


async def wait_for_step(ramp_id: str, step: int, proc: subprocess.Popen[str]) -> None:
    async def applied() -> bool:
        assert proc.poll() is None, proc.communicate()
        return ("versions.ramp", "ok", step) in ramp_records(ramp_id)

    await eventually(applied, timeout=60, what=f"step {step} journaled")


async def test_dry_run_prints_every_step_and_changes_nothing(client: Client, config: Path) -> None:
    await reset_routing(client, "v1")
    code, doc, err = run_cli(config, "orders", "v2", "--steps", "10,50,100", "--hold", "5m",
                             "--dry-run")  # fmt: skip
    assert code == 0, err
    plan = doc["plan"]
    assert doc["dry_run"] is True and plan["previous"] == "v1"
    assert [(s["percentage"], s["call"], s["hold_s"]) for s in plan["steps"]] == [
        (10.0, "SetWorkerDeploymentRampingVersion", 300.0),
        (50.0, "SetWorkerDeploymentRampingVersion", 300.0),
        (100.0, "SetWorkerDeploymentCurrentVersion", 300.0),
    ]
    assert "failed executions of v2" in plan["guard"]
    assert plan["policy"]["result"] == "allow"
    assert await routing(client) == ("v1", "", 0)
    assert ramp_records(doc["ramp_id"]) == []


async def test_without_engine_the_one_holding_the_deployment_is_ramped(
    client: Client, config: Path, temporal_server: DevServer
) -> None:
    """As `versions rollback`: a context with several engines needs no --engine when
    only one of them has the deployment (the sandbox has Temporal and Step Functions)."""
    await reset_routing(client, "v1")
    text = config.read_text().replace(
        "    engines:\n",
        "    engines:\n"
        "      - kind: temporal\n"
        "        name: elsewhere\n"
        f"        address: {temporal_server.address}\n"
        f"        http-address: {temporal_server.http_address}\n"
        "        namespace: ramp-no-such-namespace\n",
        1,
    )
    two = config.with_name("two-engines.yaml")
    two.write_text(text)
    code, doc, err = run_cli(two, "orders", "v2", "--steps", "100", "--hold", "1s", "--dry-run")
    assert code == 0, err
    assert doc["plan"]["engine"] == "temporal" and doc["plan"]["previous"] == "v1"


async def test_a_good_version_is_promoted_to_100(client: Client, config: Path) -> None:
    await reset_routing(client, "v1")
    ramp_id = f"ramp-{uuid.uuid4().hex[:8]}"
    code, doc, err = run_cli(config, "orders", "v2", "--steps", "20,100", "--hold", "1s",
                             "--slo", "orders-success", "--request-id", ramp_id)  # fmt: skip
    assert code == 0, err
    assert doc["result"]["status"] == "promoted"
    assert "APPLIED       step 1/2 current v1, v2 ramping at 20%" in err  # progress: stderr
    assert "PROMOTED      v2 is current on orders" in err
    assert doc["result"]["routing"] == {"deployment": "orders", "current": "v2",
                                        "ramping": None, "percentage": 0.0}  # fmt: skip
    assert await routing(client) == ("v2", "", 0)  # current, ramp cleared
    assert ramp_records(ramp_id) == [
        ("versions.ramp.start", "ok", None),
        ("versions.ramp", "ok", 1), ("versions.ramp.check", "ok", 1),
        ("versions.ramp", "ok", 2), ("versions.ramp.check", "ok", 2),
    ]  # fmt: skip


async def test_the_bad_version_is_rolled_back_at_the_first_step(
    client: Client, config: Path, temporal_server: DevServer
) -> None:
    await reset_routing(client, "v2")
    ramp_id = f"ramp-{uuid.uuid4().hex[:8]}"
    proc = spawn(config, "orders", "v3", "--steps", "50,100", "--hold", "6s",
                 "--slo", "orders-success", "--request-id", ramp_id)  # fmt: skip
    await wait_for_step(ramp_id, 1, proc)
    assert await routing(client) == ("v2", "v3", 50)
    # Orders during the hold: about half land on v3 and fail at once.
    ids = [f"ramp-order-{uuid.uuid4().hex[:8]}" for _ in range(16)]
    counts = await start_orders(temporal_server.address, NAMESPACE, "OrderWorkflow", ids,
                                wf.ORDERS_TASK_QUEUE, start_signal=wf.APPROVE_SIGNAL,
                                wait_s=10)  # fmt: skip
    assert counts.get("failed", 0) >= 2, counts
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    result = json.loads(out)["result"]
    assert result["status"] == "rolled_back"
    reason = result["reason"]
    assert "guard breached" in reason and "of v3 failed" in reason
    assert "systemic failure on v3" in reason  # console.triage
    assert "SLO orders-success: success rate 0.0% < 95.0%" in reason  # console.slo
    assert await routing(client) == ("v2", "", 0)  # v2 current again, nothing ramping
    assert [r[:2] for r in ramp_records(ramp_id)][-3:] == [
        ("versions.ramp", "ok"), ("versions.ramp.check", "failed"),
        ("versions.ramp.rollback", "ok"),
    ]  # fmt: skip
    assert ("versions.ramp", "ok", 2) not in ramp_records(ramp_id)


async def test_a_ramp_killed_mid_way_resumes_without_reapplying(
    client: Client, config: Path
) -> None:
    await reset_routing(client, "v1")
    ramp_id = f"ramp-{uuid.uuid4().hex[:8]}"
    proc = spawn(config, "orders", "v2", "--steps", "30,100", "--hold", "8s",
                 "--request-id", ramp_id)  # fmt: skip
    await wait_for_step(ramp_id, 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert await routing(client) == ("v1", "v2", 30)
    # resumed with a short remaining hold: the journaled step's hold counts from its record
    code, doc, err = run_cli(config, "--resume", ramp_id, timeout=120)
    assert code == 0, err
    assert doc["result"]["status"] == "promoted"
    assert doc["result"]["applied"] == [2]  # step 1 not applied again
    assert await routing(client) == ("v2", "", 0)
    steps = [r for r in ramp_records(ramp_id) if r[0] == "versions.ramp"]
    assert steps == [("versions.ramp", "ok", 1), ("versions.ramp", "ok", 2)]


async def test_ctrl_c_with_yes_holds_then_resume_rolls_back(client: Client, config: Path) -> None:
    await reset_routing(client, "v1")
    ramp_id = f"ramp-{uuid.uuid4().hex[:8]}"
    proc = spawn(config, "orders", "v2", "--steps", "40,100", "--hold", "10m",
                 "--request-id", ramp_id)  # fmt: skip
    await wait_for_step(ramp_id, 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err
    doc = json.loads(out)
    assert doc["result"]["status"] == "held"
    assert doc["hints"]["resume"] == f"opsdeck versions ramp --resume {ramp_id}"
    assert await routing(client) == ("v1", "v2", 40)  # kept at 40%
    code, doc, err = run_cli(config, "--resume", ramp_id, "--rollback")
    assert code == 1, err
    assert doc["result"]["status"] == "rolled_back"
    assert await routing(client) == ("v1", "", 0)


async def test_resume_refuses_when_someone_else_changed_the_routing(
    client: Client, config: Path
) -> None:
    await reset_routing(client, "v1")
    ramp_id = f"ramp-{uuid.uuid4().hex[:8]}"
    proc = spawn(config, "orders", "v2", "--steps", "40,100", "--hold", "10m",
                 "--request-id", ramp_id)  # fmt: skip
    await wait_for_step(ramp_id, 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    await reset_routing(client, "v1")  # another operator cleared the ramp
    code, doc, err = run_cli(config, "--resume", ramp_id)
    assert code == 4, err
    assert "someone else changed the routing" in doc["result"]["reason"]
    assert await routing(client) == ("v1", "", 0)  # untouched


RAMP_POLICY = """\
package opsdeck

import rego.v1

default decision := {"result": "allow", "reasons": []}

decision := {"result": "approve", "reasons": ["ramps need a second person"], "approvals": 1,
             "approver_groups": []} if {
  input.action == "versions.ramp"
  input.params.version != "v3"
}

decision := {"result": "deny", "reasons": ["v3 is known bad"]} if {
  input.action == "versions.ramp"
  input.params.version == "v3"
}
"""


async def test_policy_denies_or_wants_an_approval_then_the_ramp_runs(
    client: Client, config: Path, tmp_path: Path
) -> None:
    (tmp_path / "team.rego").write_text(RAMP_POLICY)
    text = config.read_text().replace("contexts:", "policy:\n  file: team.rego\ncontexts:", 1)
    config.write_text(text)
    await reset_routing(client, "v1")

    def as_user(who: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, OPSDECK_CONFIG=str(config), OPSDECK_IDENTITY=who)
        return subprocess.run([OPSDECK, *args], capture_output=True, text=True, env=env,
                              timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip

    denied = as_user("alice", *ramp_command("orders", "v3", "--hold", "1s")[1:])
    assert denied.returncode == 3 and "v3 is known bad" in denied.stderr, denied.stderr
    filed = as_user("alice", *ramp_command("orders", "v2", "--steps", "100", "--hold", "1s")[1:])
    assert filed.returncode == 3, filed.stderr
    request = json.loads(filed.stdout)["approval"]["id"]
    assert await routing(client) == ("v1", "", 0)  # filing changed nothing
    assert as_user("bob", "approvals", "approve", request).returncode == 0
    args = ramp_command("orders", "v2", "--steps", "100", "--hold", "1s", "--approval", request)
    ran = as_user("alice", *args[1:])
    assert ran.returncode == 0, ran.stderr
    doc = json.loads(ran.stdout)
    assert doc["result"]["status"] == "promoted"
    assert await routing(client) == ("v2", "", 0)
    step = next(r for r in audit().list(request_id=doc["ramp_id"]) if r.action == "versions.ramp")
    assert step.parameters["policy"]["approval"] == request


def expect(fd: int, text: str, seen: list[str], timeout: float = 120) -> str:
    """Read the terminal until ``text`` shows; everything read so far."""
    import select
    import time

    deadline = time.monotonic() + timeout
    while text not in "".join(seen):
        left = deadline - time.monotonic()
        assert left > 0, f"{text!r} not shown; got {''.join(seen)!r}"
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            try:
                seen.append(os.read(fd, 4096).decode(errors="replace"))
            except OSError:  # the process closed the terminal
                break
    return "".join(seen)


async def test_ctrl_c_on_a_terminal_asks_and_rolls_back(client: Client, config: Path) -> None:
    await reset_routing(client, "v1")
    master, slave = os.openpty()
    env = dict(os.environ, OPSDECK_CONFIG=str(config), COLUMNS="200")
    proc = subprocess.Popen(
        [OPSDECK, "versions", "ramp", "orders", "v2", "--steps", "50,100", "--hold", "10m"],
        stdin=slave, stdout=slave, stderr=slave, env=env,
    )  # fmt: skip
    os.close(slave)
    seen: list[str] = []
    try:
        expect(master, "Start this ramp? [y/N]", seen)
        assert "step 1: SetWorkerDeploymentRampingVersion 50%, hold 600s" in "".join(seen)
        os.write(master, b"y\n")
        expect(master, "s at 50% (until ", seen)  # holding ~600s
        assert await routing(client) == ("v1", "v2", 50)
        proc.send_signal(signal.SIGINT)
        expect(master, "[h]old here (resumable), [r]oll back now, or [c]ontinue?", seen)
        os.write(master, b"r\n")
        out = expect(master, "Audit: opsdeck audit list", seen)
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert "ROLLED BACK: rolled back by the operator at step 1 (50%)" in out
    assert "Routing now: current v1, nothing ramping" in out
    assert await routing(client) == ("v1", "", 0)


async def test_adapter_restores_after_promotion_and_refuses_a_stale_routing(
    client: Client, temporal_server: DevServer
) -> None:
    from adapters.temporal import TemporalEngine
    from console.errors import BackendError
    from console.model_chaos import RampState

    await reset_routing(client, "v1")
    settings = {"kind": "temporal", "address": temporal_server.address, "namespace": NAMESPACE}
    engine = TemporalEngine.from_config("temporal", settings, lambda ref: "")
    start = await engine.ramp_routing("orders", "v2")
    assert start == RampState("orders", "v1", None, 0.0)
    promoted = await engine.set_ramp("orders", "v2", 100, start)
    assert promoted == RampState("orders", "v2", None, 0.0)
    with pytest.raises(BackendError, match="changed under the ramp"):
        await engine.set_ramp("orders", "v3", 10, start)  # stale: v1 is no longer current
    assert await routing(client) == ("v2", "", 0)
    restored = await engine.restore_routing("orders", "v2", "v1", promoted)
    assert restored == RampState("orders", "v1", None, 0.0)  # a breach after 100%
    assert await routing(client) == ("v1", "", 0)
    assert await engine.version_query("orders", "v2") == (
        "TemporalWorkerDeploymentVersion = 'orders:v2'"
    )
    await engine.close()


async def test_a_policy_that_now_denies_stops_the_resume_but_not_the_rollback(
    client: Client, config: Path, tmp_path: Path
) -> None:
    await reset_routing(client, "v1")
    ramp_id = f"ramp-{uuid.uuid4().hex[:8]}"
    proc = spawn(config, "orders", "v2", "--steps", "40,100", "--hold", "10m",
                 "--request-id", ramp_id)  # fmt: skip
    await wait_for_step(ramp_id, 1, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 4
    (tmp_path / "deny.rego").write_text(
        'package opsdeck\n\nimport rego.v1\n\ndefault decision := {"result": "allow", '
        '"reasons": []}\n\ndecision := {"result": "deny", "reasons": ["change freeze"]} if '
        '{\n  input.action == "versions.ramp"\n}\n'
    )
    text = config.read_text().replace("contexts:", "policy:\n  file: deny.rego\ncontexts:", 1)
    config.write_text(text)
    code, _, err = run_cli(config, "--resume", ramp_id)
    assert code == 3 and "change freeze" in err, err
    assert await routing(client) == ("v1", "v2", 40)  # nothing changed
    code, doc, err = run_cli(config, "--resume", ramp_id, "--rollback")
    assert code == 1, err
    assert doc["result"]["status"] == "rolled_back"
    assert await routing(client) == ("v1", "", 0)
    rollback = next(r for r in audit().list(request_id=ramp_id) if r.action.endswith("rollback"))
    assert rollback.parameters["policy"]["decision"] == "deny"  # recorded, not obeyed
