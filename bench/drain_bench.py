"""Drain benchmark: opsdeck's drain vs the rabbitmq_shovel plugin, same broker, same run.

    .venv/bin/python bench/drain_bench.py [--messages 100000] [--rounds 3] [--batch-size 2000]

Each round fills a durable DLQ with N persistent dead-lettered messages (published
directly with an ``x-death`` header as RabbitMQ writes it, which is much faster than
rejecting N messages), then moves them to a destination queue:

- opsdeck: ``console.actions.drain.Drain`` with the archive (gzip JSON lines, fsynced
  per batch), the SQLite journal (dedup ids) and transactional publish+ack per batch;
- shovel: a dynamic shovel (``ack-mode: on-confirm``, ``src-delete-after: queue-length``)
  created with ``rabbitmqctl set_parameter``; timed from the first message arriving at
  the destination to the last (so rabbitmqctl's own start-up is not counted against it).

Prints msgs/s for both per round, the medians and the ratio; needs root for
``rabbitmq-plugins enable rabbitmq_shovel`` (done once).
"""

from __future__ import annotations

import argparse
import json
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


def run_opsdeck(dlq: str, dest: str, count: int, work: Path, batch_size: int) -> float:
    adapter = RabbitDeadLetterQueues.from_config(
        "bench", {"url": "amqp://127.0.0.1:5672/%2F", "queues": [dlq]}, lambda r: r
    )
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
    proc = subprocess.Popen(["rabbitmqctl", "set_parameter", "shovel", name, value])
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
    parser.add_argument("--batch-size", type=int, default=2000, help="opsdeck drain batch")
    args = parser.parse_args()
    subprocess.run(["rabbitmq-plugins", "enable", "rabbitmq_shovel"], check=True,
                   capture_output=True)  # fmt: skip
    ours, theirs = [], []
    prefix = f"opsdeck-bench-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            dlq, dest, dest2 = f"{prefix}.dlq", f"{prefix}.dest", f"{prefix}.shovelled"
            fill(dlq, f"{prefix}.work", args.messages)
            connection = connect()
            channel = connection.channel()
            channel.queue_declare(dest, durable=True)
            connection.close()
            ours.append(
                run_opsdeck(dlq, dest, args.messages, Path(tmp) / str(round_), args.batch_size)
            )
            fill(dlq, f"{prefix}.work", args.messages)
            theirs.append(run_shovel(dlq, dest2, args.messages))
            print(f"round {round_ + 1}: opsdeck {ours[-1]:,.0f} msg/s, shovel {theirs[-1]:,.0f}")
            connection = connect()
            channel = connection.channel()
            for queue in (dlq, dest, dest2, f"{dlq}.parking"):
                channel.queue_delete(queue)
            connection.close()
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"median: opsdeck {a:,.0f} msg/s, shovel {b:,.0f} msg/s, ratio {a / b:.2f}x")


if __name__ == "__main__":
    main()
