"""The shipped experiments (chaos/experiments/) run end to end by `opsdeck chaos run`
against the real sandbox: the Temporal dev server with the demo workers (and RabbitMQ
where the experiment needs it). Each test asserts what the experiment proves on the
servers, not only its exit code."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from chaos import _context as ctx
from console import sandbox
from console.audit import AuditJournal
from console.sandbox import faults, rabbit
from tests.integration.chaos_fixtures import (
    chaos_sandbox,
    configuration,
    prometheus_url,
    write_config,
)
from tests.integration.rabbit_fixtures import connect

__all__ = ["chaos_sandbox", "configuration", "prometheus_url"]


def opsdeck_chaos_run(
    name: str, work: Path, configuration: dict[str, Any], *extra: str
) -> tuple[int, dict[str, Any], str]:
    """`opsdeck chaos run NAME --yes -o json` in a subprocess: exit code, document, stderr."""
    opsdeck = Path(sys.executable).parent / "opsdeck"
    env = {
        **os.environ,
        "OPSDECK_CONFIG": configuration["opsdeck_config"],
        "OPSDECK_SANDBOX_DIR": configuration["opsdeck_sandbox_dir"],
        "PATH": f"{opsdeck.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    done = subprocess.run(
        [str(opsdeck), "chaos", "run", name, "--yes", "-o", "json", *extra],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=240,
    )
    doc: dict[str, Any] = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, doc, done.stderr


def outputs(doc: dict[str, Any]) -> dict[str, Any]:
    journal = json.loads(Path(doc["run"]["journal"]).read_text())
    return {r["activity"]["name"]: r.get("output") for r in journal["run"]}


def audit_actions(run_id: str) -> list[tuple[str, str]]:
    return [(r.action, r.outcome) for r in reversed(AuditJournal().list(run_id=run_id))]


def test_activity_failure_storm_holds_its_slo_and_the_breaching_variant_aborts(
    tmp_path: Path, chaos_sandbox: sandbox.SandboxState, configuration: dict[str, Any]
) -> None:
    switch = Path(chaos_sandbox.data_dir) / "faults.json"
    code, doc, err = opsdeck_chaos_run("activity-failure-storm", tmp_path, configuration)
    assert code == 0, err
    assert doc["hypothesis"] == {"before": True, "after": True} and doc["safeguard"] is None
    out = outputs(doc)
    assert out["payment-faults"]["fault"]["failure_rate"] == 0.5
    counts = out["payment-orders"]["counts"]
    assert sum(counts.values()) == 20 and counts.get("completed", 0) >= 18, counts
    assert out["payments-success-rate"] >= 0.9
    assert faults.read_faults(switch) == {}
    assert audit_actions(doc["run"]["id"]) == [
        ("chaos.inject_faults", "ok"),
        ("chaos.start_demo_orders", "ok"),
        ("chaos.rollback.clear_faults", "ok"),
        ("chaos.rollback.stop_demo_orders", "ok"),
    ]

    code, doc, err = opsdeck_chaos_run(
        "activity-failure-storm", tmp_path, configuration, "--var", "failure_rate:float=1.0"
    )
    assert code == 4, err
    assert doc["run"]["status"] == "aborted", doc
    assert doc["safeguard"]["name"] == "payments not in an outage"
    assert doc["safeguard"]["value"] < 0.8
    assert "SAFEGUARD" in err
    assert [r["name"] for r in doc["rollbacks"]] == ["clear-payment-faults", "stop-payment-orders"]
    assert all(r["status"] == "succeeded" for r in doc["rollbacks"])
    assert faults.read_faults(switch) == {}


def test_bad_deploy_ramp_trips_its_safeguard_and_restores_the_routing(
    tmp_path: Path, chaos_sandbox: sandbox.SandboxState, configuration: dict[str, Any]
) -> None:
    session, _ = ctx.session_and_run(configuration)
    engine: Any = session.engines["temporal"]
    before = ctx.run(engine.ramping("orders"))
    assert (before.current, before.ramping) == ("v2", None)
    code, doc, err = opsdeck_chaos_run("bad-deploy-ramp", tmp_path, configuration)
    assert code == 4, err
    assert doc["hypothesis"]["before"] is True and doc["run"]["status"] == "aborted"
    assert doc["safeguard"]["name"] == "orders error rate under 10%"
    assert doc["safeguard"]["value"] < 0.9
    out = outputs(doc)
    assert out["ramp-v3"]["previous"]["ramping"] is None
    counts = out["orders-on-the-ramp"]["counts"]
    assert sum(counts.values()) == 20 and counts.get("failed", 0) >= 3, counts
    assert [(r["name"], r["status"]) for r in doc["rollbacks"]] == [
        ("restore-orders-routing", "succeeded"),
        ("stop-ramp-orders", "succeeded"),
    ]
    after = ctx.run(engine.ramping("orders"))
    assert (after.current, after.ramping, after.percentage) == ("v2", None, 0.0)
    assert audit_actions(doc["run"]["id"]) == [
        ("chaos.set_ramping_version", "ok"),
        ("chaos.start_demo_orders", "ok"),
        ("chaos.rollback.restore_ramping", "ok"),
        ("chaos.rollback.stop_demo_orders", "ok"),
    ]


def test_poison_messages_are_parked_by_the_drain_and_none_is_lost(
    tmp_path: Path, chaos_sandbox: sandbox.SandboxState, configuration: dict[str, Any]
) -> None:
    info = rabbit.up()  # as `opsdeck sandbox up` does
    assert info["queues"] == [rabbit.WORK_QUEUE, rabbit.DLQ, rabbit.PARKING_QUEUE]
    connection = connect()
    for queue in (rabbit.DLQ, rabbit.PARKING_QUEUE):
        connection.channel().queue_purge(queue)  # the demo queues of this test's sandbox
    connection.close()
    config = write_config(
        tmp_path / "rabbit.yaml",
        chaos_sandbox,
        configuration["opsdeck_prometheus"],
        f"{rabbit.DLQ}, {rabbit.PARKING_QUEUE}",
    )
    code, doc, err = opsdeck_chaos_run(
        "poison-messages", tmp_path, {**configuration, "opsdeck_config": str(config)}
    )
    assert code == 0, err
    assert doc["hypothesis"] == {"before": True, "after": True}
    out = outputs(doc)
    published = set(out["publish-poison"]["message_ids"])
    assert len(published) == 5 and out["dlq-holds-the-poison"] == 5
    drained = out["drain-parks-the-poison"]
    assert (drained["parked"], drained["sent"], drained["exit_code"]) == (5, 0, 0)
    assert out["parked"] == 5
    archived = set()
    for path in drained["archive_paths"]:
        with gzip.open(path, "rt") as lines:
            archived |= {json.loads(line)["dedup_id"] for line in lines}
    assert archived == published  # every message in the archive, before it moved
    (rollback,) = doc["rollbacks"]
    assert rollback["status"] == "succeeded"
    rolled = outputs_rollbacks(doc)["purge-poison"]
    assert set(rolled["removed_parked"]) == published and rolled["removed"] == []
    assert audit_actions(doc["run"]["id"]) == [
        ("chaos.publish_poison_messages", "ok"),
        ("dlq.drain", "ok"),
        ("chaos.rollback.purge_poison_messages", "ok"),
    ]
    connection = connect()
    channel = connection.channel()
    depths = [channel.queue_declare(q, passive=True).method.message_count for q in info["queues"]]
    connection.close()
    assert depths == [0, 0, 0]


def outputs_rollbacks(doc: dict[str, Any]) -> dict[str, Any]:
    journal = json.loads(Path(doc["run"]["journal"]).read_text())
    return {r["activity"]["name"]: r.get("output") for r in journal["rollbacks"]}
