"""Drains on the real broker: nothing lost, nothing sent twice, whatever happens.

Counted at the destination by message id: 10,000 messages; a drain process killed
(SIGKILL) mid-way and resumed; a poison message parked after N redrives; the broker
connection dropped mid-drain; a selective drain leaving the rest in order.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from console.actions.drain import (
    Drain,
    DrainFilter,
    DrainProgress,
    DrainSpec,
    read_archive,
)
from tests.integration.rabbit_fixtures import DeadLetterSetup, connect, rabbit_fixture  # noqa: F401

CLIENTS = pytest.mark.parametrize("client", ["wire", "pika"])


def _drain(
    rabbit: DeadLetterSetup, tmp_path: Path, spec: DrainSpec, client: str = "wire", **kw: Any
) -> Any:
    adapter = rabbit.adapter(client)
    source = adapter.drain_source(
        spec.queue, batch_size=spec.batch_size, hold_all=not spec.filter.is_all
    )
    drain = Drain(
        source,
        spec,
        journal_dir=tmp_path / "journal",
        archive_dir=tmp_path / "archive",
        recoverable=adapter.recoverable_errors(),
        **kw,
    )
    return drain, drain.run()


def _ids(messages: list[tuple[Any, bytes]]) -> Counter[str]:
    return Counter(props.message_id for props, _ in messages)


@CLIENTS
def test_10000_messages_drained_none_lost_none_duplicated(
    rabbit: DeadLetterSetup, tmp_path: Path, client: str
) -> None:
    ids = rabbit.dead_letter(10_000)
    spec = DrainSpec("rabbit", rabbit.dlq, batch_size=1000)
    _, report = _drain(rabbit, tmp_path, spec, client)
    assert report.error is None and report.completed
    assert report.sent == 10_000
    assert rabbit.depth(rabbit.dlq) == 0
    got = _ids(rabbit.read_all(rabbit.work))  # back to the original queue
    assert set(got) == set(ids) and max(got.values()) == 1
    archived = [r for p in report.archive_paths for r in read_archive(Path(p))]
    assert sorted(r["dedup_id"] for r in archived) == sorted(ids)
    assert archived[0]["death"]["reason"] == "rejected"
    assert report.totals == {"sent": 10_000}


@CLIENTS
def test_selective_drain_leaves_the_rest_in_order(
    rabbit: DeadLetterSetup, tmp_path: Path, client: str
) -> None:
    ids = rabbit.dead_letter(50, reason_body=lambda i: {"n": i, "tier": "gold" if i % 5 else "x"})
    spec = DrainSpec(
        "rabbit",
        rabbit.dlq,
        filter=DrainFilter(jsonpath="$.tier=x", headers=(("kind", "order"),)),
        destination=rabbit.other,
        batch_size=7,
    )
    _, report = _drain(rabbit, tmp_path, spec, client)
    assert report.sent == 10 and report.skipped == 40 and report.error is None
    assert sorted(_ids(rabbit.read_all(rabbit.other))) == [ids[i] for i in range(0, 50, 5)]
    left = [props.message_id for props, _ in rabbit.read_all(rabbit.dlq)]
    assert left == [ids[i] for i in range(50) if i % 5]


def test_poison_message_is_parked_after_max_redrives(
    rabbit: DeadLetterSetup, tmp_path: Path
) -> None:
    (mid,) = rabbit.dead_letter(1)
    for round_ in range(3):
        spec = DrainSpec("rabbit", rabbit.dlq, max_redrives=2)
        _, report = _drain(rabbit, tmp_path / str(round_), spec)
        if round_ < 2:
            assert report.sent == 1 and report.parked == 0
            rabbit.wait_depth(rabbit.work, 1)
            connection = connect()  # the consumer fails on it again
            rabbit.reject_all(connection.channel(), 1)
            connection.close()
            rabbit.wait_depth(rabbit.dlq, 1)
        else:
            assert report.parked == 1 and report.sent == 0
    parked = rabbit.read_all(f"{rabbit.dlq}.parking")
    assert [p.message_id for p, _ in parked] == [mid]
    assert parked[0][0].headers["x-opsdeck-redrives"] == 3
    assert rabbit.depth(rabbit.dlq) == 0 and rabbit.depth(rabbit.work) == 0


def _socket(source: Any) -> socket.socket:
    if hasattr(source, "socket"):
        return source.socket  # type: ignore[no-any-return]
    return source._connection._impl._transport._sock  # type: ignore[no-any-return]


@CLIENTS
def test_connection_dropped_mid_drain_recovers(
    rabbit: DeadLetterSetup, tmp_path: Path, client: str
) -> None:
    ids = rabbit.dead_letter(3000)
    adapter = rabbit.adapter(client)
    spec = DrainSpec("rabbit", rabbit.dlq, destination=rabbit.other, batch_size=200)
    source = adapter.drain_source(rabbit.dlq, batch_size=200)
    drops = []

    def progress(p: DrainProgress) -> None:
        if p.done >= 1000 * (len(drops) + 1) and len(drops) < 2:
            # The network goes away under the drain: the socket is cut, not closed nicely.
            sock = _socket(source)
            sock.shutdown(socket.SHUT_RDWR)
            drops.append(p.done)

    drain = Drain(
        source,
        spec,
        journal_dir=tmp_path / "j",
        archive_dir=tmp_path / "a",
        recoverable=adapter.recoverable_errors(),
        on_progress=progress,
    )
    report = drain.run()
    assert len(drops) == 2 and report.reconnects >= 2
    assert report.error is None and report.completed
    got = _ids(rabbit.read_all(rabbit.other))
    assert set(got) == set(ids) and max(got.values()) == 1
    assert rabbit.depth(rabbit.dlq) == 0


def _write_config(rabbit: DeadLetterSetup) -> None:
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "opsdeck" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "current-context: t\n"
        "contexts:\n"
        "  t:\n"
        "    sandbox: true\n"  # the local broker's guest/guest login
        "    engines: []\n"
        "    queues:\n"
        "      - kind: rabbitmq\n"
        "        name: rabbit\n"
        "        url: amqp://127.0.0.1:5672/%2F\n"
        f"        queues: [{rabbit.dlq}]\n"
    )


def _opsdeck(*args: str) -> list[str]:
    return [sys.executable, "-m", "console.cli", *args]


def test_cli_drain_killed_and_resumed(rabbit: DeadLetterSetup, tmp_path: Path) -> None:
    _write_config(rabbit)
    ids = rabbit.dead_letter(6000)
    drain_id = "kill-test-1"
    cmd = _opsdeck(
        "dlq", "drain", rabbit.dlq, "--to", rabbit.other, "--yes", "--resume", drain_id,
        "--batch-size", "100", "--rate", "3000", "-o", "json",
    )  # fmt: skip
    for threshold in (1000, 3000):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while rabbit.depth(rabbit.other) < threshold:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(0.5)  # the broker notices the dead connection and requeues its messages
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "msg/s" in done.stderr and "ETA" in done.stderr  # progress goes to stderr
    out = json.loads(done.stdout)
    report = out["report"]
    assert report["resumed"] and report["completed"]
    assert report["sent"] <= 3000  # the killed runs did the rest
    assert report["totals"] == {"sent": 6000}
    assert rabbit.depth(rabbit.dlq) == 0
    got = _ids(rabbit.read_all(rabbit.other))
    assert set(got) == set(ids) and max(got.values()) == 1
    # the archive holds every message at least once, across the runs' part files
    archive_dir = Path(report["archive_paths"][0]).parent
    archived = {
        r["dedup_id"]
        for p in archive_dir.glob(f"{drain_id}.part*.jsonl.gz")
        for r in read_archive(p)
    }
    assert archived == set(ids)
    audit = subprocess.run(
        _opsdeck("audit", "list", "--request-id", drain_id, "-o", "json"),
        capture_output=True,
        text=True,
    )
    records = json.loads(audit.stdout)
    assert len(records) == 1  # killed runs never got to write theirs; one per finished run
    assert records[0]["action"] == "dlq.drain"
    assert records[0]["parameters"]["totals"] == {"sent": 6000}


def test_cli_list_peek_and_dry_run(rabbit: DeadLetterSetup) -> None:
    _write_config(rabbit)
    rabbit.dead_letter(4)
    listed = subprocess.run(_opsdeck("dlq", "list", "-o", "json"), capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["queue"] == rabbit.dlq and row["depth"] == 4
    peeked = subprocess.run(
        _opsdeck("dlq", "peek", rabbit.dlq, "-n", "2", "-o", "json"), capture_output=True, text=True
    )
    rows = json.loads(peeked.stdout)
    assert [r["dedup_id"] for r in rows] == ["m-000000", "m-000001"]
    dry = subprocess.run(
        _opsdeck("dlq", "drain", rabbit.dlq, "--reason", "rejected", "--dry-run", "-o", "json"),
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)["plan"]
    assert plan["by_reason"] == {"rejected": 4}
    assert plan["by_destination"] == {rabbit.work: 4}
    assert plan["depth"] == 4
    no_yes = subprocess.run(
        _opsdeck("dlq", "drain", rabbit.dlq),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert no_yes.returncode == 2
    read_only = subprocess.run(
        _opsdeck("dlq", "drain", rabbit.dlq, "--yes", "--read-only"), capture_output=True, text=True
    )
    assert read_only.returncode == 3, read_only.stderr
    assert rabbit.depth(rabbit.dlq) == 4
