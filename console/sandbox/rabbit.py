"""Demo queues for the sandbox on the local RabbitMQ broker (127.0.0.1:5672, guest/guest).

``up`` declares (idempotently) a work queue ``opsdeck-demo.orders`` that dead-letters
through the fanout exchange ``opsdeck-demo.dlx`` into ``opsdeck-demo.orders.dlq``, and
that DLQ's parking queue ``opsdeck-demo.orders.dlq.parking`` (where a drain parks what
it must not redrive: the name `opsdeck dlq drain` uses by default). ``opsdeck sandbox
up`` lists the DLQ and the parking queue under the `sandbox` context's ``queues:`` as
backend ``rabbit``. No broker running: the sandbox runs without queues (``try_up``).
"""

from __future__ import annotations

from typing import Any

HOST, PORT = "127.0.0.1", 5672
URL = f"amqp://{HOST}:{PORT}/%2F"  # guest/guest: allowed in `sandbox: true` contexts
WORK_QUEUE = "opsdeck-demo.orders"
DEAD_LETTER_EXCHANGE = "opsdeck-demo.dlx"
DLQ = f"{WORK_QUEUE}.dlq"
PARKING_QUEUE = f"{DLQ}.parking"
BACKEND = "rabbit"


def up(host: str = HOST, port: int = PORT, timeout: float = 3.0) -> dict[str, Any]:
    """Declare the demo queues (durable; declaring again changes nothing); what exists."""
    import pika

    params = pika.ConnectionParameters(
        host,
        port,
        credentials=pika.PlainCredentials("guest", "guest"),
        socket_timeout=timeout,
        blocked_connection_timeout=timeout,
        connection_attempts=1,
    )
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.exchange_declare(DEAD_LETTER_EXCHANGE, "fanout", durable=True)
        channel.queue_declare(DLQ, durable=True)
        channel.queue_bind(DLQ, DEAD_LETTER_EXCHANGE)
        channel.queue_declare(PARKING_QUEUE, durable=True)
        channel.queue_declare(
            WORK_QUEUE, durable=True, arguments={"x-dead-letter-exchange": DEAD_LETTER_EXCHANGE}
        )
    finally:
        connection.close()
    return {"url": f"amqp://{host}:{port}/%2F", "queues": [WORK_QUEUE, DLQ, PARKING_QUEUE]}


def try_up(host: str = HOST, port: int = PORT) -> dict[str, Any] | None:
    """``up``, or None when no broker answers (the sandbox then has no queues)."""
    try:
        return up(host, port)
    except Exception:  # no broker, refused login: the rest of the sandbox still runs
        return None


def queue_settings(info: dict[str, Any]) -> dict[str, Any]:
    """The `sandbox` context's ``queues:`` entry for the demo DLQ and its parking queue."""
    return {"name": BACKEND, "kind": "rabbitmq", "url": info["url"], "queues": [DLQ, PARKING_QUEUE]}


def summary(info: dict[str, Any] | None) -> str:
    if info is None:
        return f"RabbitMQ: no broker on {HOST}:{PORT}; the sandbox has no demo DLQ"
    return f"RabbitMQ demo DLQ: {DLQ} (parking {PARKING_QUEUE}), backend `{BACKEND}`"
