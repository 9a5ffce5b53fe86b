"""RabbitMQ helpers for the DLQ tests: unique queues with a dead-letter setup.

The broker is the machine's own at 127.0.0.1:5672 (guest/guest); in CI a missing
broker is a failure, never a skip. Every test gets unique queue names and deletes them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pika
import pytest

from adapters.rabbitmq import RabbitDeadLetterQueues

HOST, PORT = "127.0.0.1", 5672


def connect() -> pika.BlockingConnection:
    return pika.BlockingConnection(
        pika.ConnectionParameters(HOST, PORT, credentials=pika.PlainCredentials("guest", "guest"))
    )


@dataclass
class DeadLetterSetup:
    """``work`` dead-letters into ``dlq`` (via the DLX ``dlx``); ``other`` is spare."""

    prefix: str
    work: str
    dlq: str
    other: str
    dlx: str
    extra: list[str] = field(default_factory=list)

    def adapter(self, drain_client: str = "wire") -> RabbitDeadLetterQueues:
        settings = {
            "url": f"amqp://{HOST}:{PORT}/%2F",
            "queues": [self.dlq],
            "drain_client": drain_client,
        }
        return RabbitDeadLetterQueues.from_config("rabbit", settings, lambda r: r)

    def dead_letter(self, count: int, *, reason_body: Any = None, start: int = 0) -> list[str]:
        """Publish ``count`` messages to ``work`` and reject them into the DLQ; their ids."""
        ids = []
        connection = connect()
        channel = connection.channel()
        before_work = self.depth(self.work)
        for i in range(start, start + count):
            mid = f"m-{i:06d}"
            body = reason_body(i) if callable(reason_body) else {"n": i, "email": f"u{i}@x.io"}
            channel.basic_publish(
                "",
                self.work,
                json.dumps(body).encode(),
                pika.BasicProperties(message_id=mid, delivery_mode=2, headers={"kind": "order"}),
            )
            ids.append(mid)
        self.wait_depth(self.work, before_work + count)
        before = self.depth(self.dlq)
        self.reject_all(channel, count)
        connection.close()
        self.wait_depth(self.dlq, before + count)
        return ids

    def wait_depth(self, queue: str, expected: int, timeout: float = 30.0) -> None:
        """Dead-lettering is asynchronous: wait until ``queue`` holds ``expected``."""
        import time

        deadline = time.monotonic() + timeout
        while (depth := self.depth(queue)) != expected:
            assert time.monotonic() < deadline, f"{queue}: {depth} messages, wanted {expected}"
            time.sleep(0.05)

    def reject_all(self, channel: Any, count: int) -> None:
        channel.basic_qos(prefetch_count=0)
        for got, (method, _props, _body) in enumerate(
            channel.consume(self.work, inactivity_timeout=5), start=1
        ):
            if method is None:
                break
            if got % 500 == 0 or got == count:
                channel.basic_nack(method.delivery_tag, multiple=True, requeue=False)
            if got >= count:
                break
        channel.cancel()

    def depth(self, queue: str) -> int:
        connection = connect()
        try:
            return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
        finally:
            connection.close()

    def read_all(self, queue: str) -> list[tuple[Any, bytes]]:
        """Consume (ack) every message of ``queue``: (properties, body) pairs."""
        out = []
        connection = connect()
        channel = connection.channel()
        while True:
            method, props, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                break
            out.append((props, body))
        connection.close()
        return out


@pytest.fixture(name="rabbit")
def rabbit_fixture() -> Iterator[DeadLetterSetup]:
    prefix = f"opsdeck-test-{uuid.uuid4().hex[:8]}"
    setup = DeadLetterSetup(
        prefix, f"{prefix}.work", f"{prefix}.dlq", f"{prefix}.other", f"{prefix}.dlx"
    )
    connection = connect()
    channel = connection.channel()
    channel.exchange_declare(setup.dlx, "fanout", durable=False, auto_delete=False)
    channel.queue_declare(setup.dlq, durable=True)
    channel.queue_bind(setup.dlq, setup.dlx)
    channel.queue_declare(setup.work, durable=True, arguments={"x-dead-letter-exchange": setup.dlx})
    channel.queue_declare(setup.other, durable=True)
    connection.close()
    try:
        yield setup
    finally:
        connection = connect()
        channel = connection.channel()
        for queue in (setup.work, setup.dlq, setup.other, f"{setup.dlq}.parking", *setup.extra):
            channel.queue_delete(queue)
        channel.exchange_delete(setup.dlx)
        connection.close()
