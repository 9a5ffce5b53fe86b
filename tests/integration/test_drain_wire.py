"""The drain's own AMQP client (drain_client: wire) on the real broker, where it differs
from pika: copies made from the received header bytes, bodies over one frame, a channel
the broker closes mid-batch, a refused login.
"""

from __future__ import annotations

import decimal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
import pytest

from adapters.rabbitmq import RabbitDeadLetterQueues
from console.actions.drain import Drain, DrainSpec, read_archive
from console.errors import NotAuthorized
from tests.integration.rabbit_fixtures import DeadLetterSetup, connect, rabbit_fixture  # noqa: F401

WHEN = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _publish(queue: str, body: bytes, props: pika.BasicProperties) -> None:
    connection = connect()
    connection.channel().basic_publish("", queue, body, props)
    connection.close()


def _death(queue: str) -> dict[str, Any]:
    return {
        "count": 1,
        "reason": "rejected",
        "queue": queue,
        "time": WHEN,
        "exchange": "",
        "routing-keys": [queue],
    }


def _run(rabbit: DeadLetterSetup, tmp_path: Path, client: str = "wire") -> Any:
    adapter = rabbit.adapter(client)
    spec = DrainSpec("rabbit", rabbit.dlq, destination=rabbit.other, batch_size=50)
    drain = Drain(
        adapter.drain_source(rabbit.dlq, batch_size=50),
        spec,
        journal_dir=tmp_path / "j",
        archive_dir=tmp_path / "a",
        recoverable=adapter.recoverable_errors(),
    )
    return drain.run()


def test_copy_keeps_every_header_and_a_body_larger_than_a_frame(
    rabbit: DeadLetterSetup, tmp_path: Path
) -> None:
    headers = {
        "x-death": [_death(rabbit.work)],
        "text": "héllo",
        "blob": b"\xff\x00",
        "ratio": decimal.Decimal("0.25"),
        "nested": {"a": [1, "b", True]},
        "big": 2**40,
        "x-opsdeck-redrives": 1,
    }
    big = bytes(range(256)) * 1200  # 300 KB: three body frames each way
    _publish(rabbit.dlq, big, pika.BasicProperties(headers=headers, content_type="x/bin"))
    _publish(rabbit.dlq, b"{}", pika.BasicProperties(message_id="small", delivery_mode=1))
    rabbit.wait_depth(rabbit.dlq, 2)
    peeked = rabbit.adapter("pika").peek_sync(rabbit.dlq, 5)  # pika's view: the dedup ids
    report = _run(rabbit, tmp_path)
    assert report.error is None and report.sent == 2
    copies = {props.message_id: (props, body) for props, body in rabbit.read_all(rabbit.other)}
    assert set(copies) == {m.dedup_id for m in peeked}  # the same id on either client
    props, body = copies[peeked[0].dedup_id]
    assert body == big and props.content_type == "x/bin" and props.delivery_mode == 2
    assert props.headers == {**peeked[0].headers, "x-opsdeck-redrives": 2}
    small, _ = copies["small"]
    assert small.delivery_mode == 1  # kept as sent, not made persistent
    assert small.headers == {"x-opsdeck-redrives": 1}
    archived = [r for p in report.archive_paths for r in read_archive(Path(p))]
    assert sorted(r["dedup_id"] for r in archived) == sorted(copies)


@pytest.fixture(name="reader")
def reader_fixture() -> Iterator[str]:
    """A broker user that may read every queue and publish nowhere."""
    name = f"opsdeck-reader-{uuid.uuid4().hex[:6]}"
    subprocess.run(["rabbitmqctl", "add_user", name, "pw"], check=True, capture_output=True)
    try:
        subprocess.run(
            ["rabbitmqctl", "set_permissions", "-p", "/", name, "^$", "^$", ".*"],
            check=True,
            capture_output=True,
        )
        yield name
    finally:
        subprocess.run(["rabbitmqctl", "delete_user", name], capture_output=True)


def test_channel_closed_by_the_broker_fails_the_drain_and_keeps_the_batch(
    rabbit: DeadLetterSetup, tmp_path: Path, reader: str
) -> None:
    # The broker refuses the publishes (403, no write permission) and closes the
    # channel: its transaction is discarded, so every message stays in the DLQ.
    ids = rabbit.dead_letter(300)
    settings = {"url": "amqp://127.0.0.1:5672/%2F", "queues": [rabbit.dlq]}
    adapter = RabbitDeadLetterQueues.from_config(
        "rabbit", {**settings, "username": reader, "password": "pw"}, lambda r: r
    )
    drain = Drain(
        adapter.drain_source(rabbit.dlq, batch_size=100),
        DrainSpec("rabbit", rabbit.dlq, destination=rabbit.other, batch_size=100),
        journal_dir=tmp_path / "j",
        archive_dir=tmp_path / "a",
        recoverable=adapter.recoverable_errors(),
    )
    report = drain.run()
    assert report.error is not None and "ACCESS_REFUSED" in report.error
    assert report.sent == 0 and report.left_in_dlq == 300
    assert rabbit.depth(rabbit.other) == 0
    assert [props.message_id for props, _ in rabbit.read_all(rabbit.dlq)] == ids  # in order
    assert list(report.totals) == ["archived"]  # archived first, as always; none sent
    assert 100 <= report.totals["archived"] <= 300  # the next lane's batch may be too


def test_a_refused_login_names_the_broker(rabbit: DeadLetterSetup, tmp_path: Path) -> None:
    adapter = RabbitDeadLetterQueues.from_config(
        "rabbit",
        {"url": "amqp://127.0.0.1:5672/%2F", "queues": [rabbit.dlq], "password": "wrong"},
        lambda r: r,
    )
    source = adapter.drain_source(rabbit.dlq, batch_size=10)
    with pytest.raises(NotAuthorized, match=r"amqp://127\.0\.0\.1:5672/%2F refused .*'guest'"):
        source.depth()
    source.close()


def test_a_broker_slower_than_the_fetch_timeout_does_not_end_the_drain(
    rabbit: DeadLetterSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A busy broker can take longer than fetch_timeout to deliver after a commit: here
    # nothing is read for 0.3 s after each commit-ok (fetch_timeout 0.1 s). A fetch that
    # sees nothing ends the drain only if the DLQ has nothing ready.
    from adapters.rabbitmq_connection import WireConnection
    from adapters.rabbitmq_fast_drain import FastRabbitDrain

    stalled = {"until": 0.0}
    late: list[tuple[Any, tuple[Any, ...]]] = []  # deliveries the slow broker sends later
    real_pump, real_commit = WireConnection.pump, FastRabbitDrain.commit
    real_sink = FastRabbitDrain._sink

    def pump(self: WireConnection, timeout: float) -> None:
        if time.monotonic() < stalled["until"]:
            time.sleep(timeout)
            return
        while late:
            deliver, args = late.pop(0)
            deliver(*args)
        real_pump(self, timeout)

    def sink(self: FastRabbitDrain, lane: Any) -> Any:
        deliver = real_sink(self, lane)

        def slow(*args: Any) -> None:
            if time.monotonic() < stalled["until"]:
                late.append((deliver, args))
            else:
                deliver(*args)

        return slow

    def commit(self: FastRabbitDrain, sends: Any, on_confirmed: Any) -> None:
        def confirmed() -> None:
            on_confirmed()
            stalled["until"] = time.monotonic() + 0.3

        real_commit(self, sends, confirmed)

    monkeypatch.setattr(WireConnection, "pump", pump)
    monkeypatch.setattr(FastRabbitDrain, "commit", commit)
    monkeypatch.setattr(FastRabbitDrain, "_sink", sink)
    ids = rabbit.dead_letter(2000)
    adapter = rabbit.adapter()
    drain = Drain(
        adapter.drain_source(rabbit.dlq, batch_size=500),
        DrainSpec("rabbit", rabbit.dlq, destination=rabbit.other, batch_size=500),
        journal_dir=tmp_path / "j",
        archive_dir=tmp_path / "a",
        fetch_timeout=0.1,
    )
    report = drain.run()
    assert report.error is None and report.completed
    assert report.sent == 2000 and report.left_in_dlq == 0
    assert {props.message_id for props, _ in rabbit.read_all(rabbit.other)} == set(ids)
