"""Drain benchmark: opsdeck's drain vs the rabbitmq_shovel plugin, same broker, same run.

    .venv/bin/python bench/drain_bench.py [--messages 100000] [--rounds 3]
        [--batch-size 500,2000] [--clients wire,pika]

Each round fills a durable DLQ with N persistent dead-lettered messages (published
directly with an ``x-death`` header as RabbitMQ writes it, which is much faster than
rejecting N messages), then moves them to a destination queue:

- opsdeck: ``console.actions.drain.Drain`` with the archive (gzip JSON lines, fsynced
  per batch), the SQLite journal (dedup ids) and transactional publish+ack per batch;
- shovel: a dynamic shovel (``ack-mode: on-confirm``, ``src-delete-after: queue-length``)
  created with ``rabbitmqctl set_parameter``; timed from the first message arriving at
  the destination to the last (so rabbitmqctl's own start-up is not counted against it).

Every (client, batch size) pair and the shovel run once per round, in an order that
rotates each round (so none always runs on the warmest broker); each gets a freshly
filled DLQ. Prints msgs/s per run, the load average, the medians and each one's ratio
to the shovel's median; needs root for ``rabbitmq-plugins enable rabbitmq_shovel``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pika

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.rabbitmq import RabbitDeadLetterQueues
from console.actions.drain import Drain, DrainSpec


def connect() -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))


def depth(channel: pika.adapters.blocking_connection.BlockingChannel, queue: str) -> int:
    return int(channel.queue_declare(queue, passive=True).method.message_count)


def fill(queue: str, source: str, count: int) -> None:
    connection = connect()
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    now = datetime.now(UTC).replace(microsecond=0)
    body = json.dumps({"order": 1, "email": "someone@example.com", "pad": "x" * 200}).encode()
    for i in range(count):
        death = {
            "count": 1,
            "reason": "rejected",
            "queue": source,
            "time": now,
            "exchange": "",
            "routing-keys": [source],
        }
        channel.basic_publish(
            "",
            queue,
            body,
            pika.BasicProperties(
                message_id=f"b-{i}", delivery_mode=2, headers={"x-death": [death]}
            ),
        )
    while depth(channel, queue) < count:
        time.sleep(0.05)
    connection.close()


def run_opsdeck(
    dlq: str, dest: str, count: int, work: Path, batch_size: int, client: str = "wire"
) -> float:
    settings = {"url": "amqp://127.0.0.1:5672/%2F", "queues": [dlq], "drain_client": client}
    adapter = RabbitDeadLetterQueues.from_config("bench", settings, lambda r: r)
    spec = DrainSpec("bench", dlq, destination=dest, batch_size=batch_size)
    drain = Drain(
        adapter.drain_source(dlq, batch_size=spec.batch_size),
        spec,
        journal_dir=work / "journal",
        archive_dir=work / "archive",
        recoverable=adapter.recoverable_errors(),
    )
    started = time.perf_counter()
    report = drain.run()
    elapsed = time.perf_counter() - started
    assert report.error is None and report.sent == count, report.as_dict()
    return count / elapsed


def run_shovel(src: str, dest: str, count: int) -> float:
    connection = connect()
    channel = connection.channel()
    channel.queue_declare(dest, durable=True)
    name = f"bench-{uuid.uuid4().hex[:6]}"
    value = json.dumps(
        {
            "src-protocol": "amqp091",
            "src-uri": "amqp://",
            "src-queue": src,
            "dest-protocol": "amqp091",
            "dest-uri": "amqp://",
            "dest-queue": dest,
            "ack-mode": "on-confirm",
            "src-delete-after": "queue-length",
        }
    )
    proc = subprocess.Popen(
        ["rabbitmqctl", "set_parameter", "shovel", name, value], stdout=subprocess.DEVNULL
    )
    first = None
    while True:
        now_depth = depth(channel, dest)
        if first is None and now_depth > 0:
            first, first_depth = time.perf_counter(), now_depth
        if now_depth >= count:
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - (first or time.perf_counter())
    proc.wait()
    subprocess.run(["rabbitmqctl", "clear_parameter", "shovel", name], capture_output=True)
    connection.close()
    return (count - first_depth) / elapsed if elapsed else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", default="2000", help="opsdeck drain batch(es), a,b")
    parser.add_argument("--clients", default="wire", help="drain clients: wire,pika")
    args = parser.parse_args()
    subprocess.run(["rabbitmq-plugins", "enable", "rabbitmq_shovel"], check=True,
                   capture_output=True)  # fmt: skip
    contenders = [
        (f"opsdeck {client} batch {size}", client, int(size))
        for client in args.clients.split(",")
        for size in args.batch_size.split(",")
    ]
    names = [name for name, _, _ in contenders] + ["shovel"]
    rates: dict[str, list[float]] = {name: [] for name in names}
    prefix = f"opsdeck-bench-{uuid.uuid4().hex[:6]}"
    print("load average at start:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                dlq, dest = f"{prefix}.dlq", f"{prefix}.dest"
                fill(dlq, f"{prefix}.work", args.messages)
                if name == "shovel":
                    rate = run_shovel(dlq, dest, args.messages)
                else:
                    _, client, size = next(c for c in contenders if c[0] == name)
                    connection = connect()
                    connection.channel().queue_declare(dest, durable=True)
                    connection.close()
                    work = Path(tmp) / f"{round_}-{client}-{size}"
                    rate = run_opsdeck(dlq, dest, args.messages, work, size, client)
                rates[name].append(rate)
                connection = connect()
                channel = connection.channel()
                for queue in (dlq, dest, f"{dlq}.parking"):
                    channel.queue_delete(queue)
                connection.close()
                load = os.getloadavg()[0]
                print(f"round {round_ + 1}: {name}: {rate:,.0f} msg/s (load {load:.2f})")
    print("load average at end:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    shovel = statistics.median(rates["shovel"])
    for name in names:
        runs = " / ".join(f"{r:,.0f}" for r in rates[name])
        median = statistics.median(rates[name])
        print(f"{name}: {runs}; median {median:,.0f} msg/s, {median / shovel:.2f}x the shovel")


if __name__ == "__main__":
    main()
