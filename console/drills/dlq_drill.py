"""Drill 3: poison messages flooding the sandbox's demo DLQ (RabbitMQ).

The drill publishes N orders to the demo work queue and rejects them as a consumer that
cannot parse them would, so the broker dead-letters them into the DLQ with real
``x-death`` headers (the work queue as their origin). Each has a message id starting with
the drill's token. Resolved when the DLQ is empty and every one of those ids is accounted
for: back in the work queue (redriven), in the parking queue, or in a drain's archive.
Nothing consumes the sandbox's work queue, so a redriven message stays there to be seen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from console.drills.model import CheckResult, Drill, DrillEnv, Injected
from console.sandbox import rabbit


@contextmanager
def _channel() -> Iterator[Any]:
    import pika

    params = pika.ConnectionParameters(
        rabbit.HOST,
        rabbit.PORT,
        credentials=pika.PlainCredentials("guest", "guest"),
        socket_timeout=5,
        blocked_connection_timeout=5,
        connection_attempts=1,
    )
    connection = pika.BlockingConnection(params)
    try:
        yield connection.channel()
    finally:
        connection.close()


def _depth(channel: Any, queue: str) -> int:
    return int(channel.queue_declare(queue, passive=True).method.message_count)


def depth(queue: str) -> int:
    with _channel() as channel:
        return _depth(channel, queue)


def held_ids(queue: str, wanted: set[str], *, remove: bool = False) -> set[str]:
    """Which of ``wanted`` are in ``queue``: every message is held unacked and put back
    in its place when the channel closes; with ``remove`` the wanted ones are acked."""
    found: set[str] = set()
    with _channel() as channel:
        for _ in range(_depth(channel, queue)):
            method, props, _body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            if props.message_id in wanted:
                found.add(str(props.message_id))
                if remove:
                    channel.basic_ack(method.delivery_tag)
    return found


def _dead_letter(ids: list[str], token: str) -> None:
    """Publish to the work queue (confirmed), then reject exactly those: dead-lettered."""
    import pika

    rabbit.up()  # the demo queues exist (idempotent)
    with _channel() as channel:
        channel.confirm_delivery()
        for mid in ids:
            body = json.dumps({"order_id": mid, "total": "NaN", "currency": None}).encode()
            props = pika.BasicProperties(
                message_id=mid,
                delivery_mode=2,
                content_type="application/json",
                headers={"opsdeck-drill": token},
            )
            channel.basic_publish("", rabbit.WORK_QUEUE, body, props, mandatory=True)
    wanted, deadline = set(ids), time.monotonic() + 10
    while wanted and time.monotonic() < deadline:
        with _channel() as channel:  # others are left unacked: back in place on close
            for _ in range(_depth(channel, rabbit.WORK_QUEUE)):
                method, props, _body = channel.basic_get(rabbit.WORK_QUEUE, auto_ack=False)
                if method is None:
                    break
                if props.message_id in wanted:
                    channel.basic_reject(method.delivery_tag, requeue=False)
                    wanted.discard(str(props.message_id))


def inject_poison(env: DrillEnv, count: int) -> Injected:
    ids = [f"{env.token}-msg-{i:03d}" for i in range(count)]
    _dead_letter(ids, env.token)
    return {
        "message_ids": ids,
        "dlq": rabbit.DLQ,
        "work_queue": rabbit.WORK_QUEUE,
        "parking": rabbit.PARKING_QUEUE,
        "backend": rabbit.BACKEND,
        "injected_at": time.time(),
    }


def archived_ids(wanted: set[str], since: float) -> set[str]:
    """Which of ``wanted`` a drain archived (its default archive dir) since ``since``."""
    from console.actions.drain_archive import read_archive
    from console.actions.drain_journal import drains_dir

    found: set[str] = set()
    directory: Path = drains_dir()
    for path in directory.glob("*.jsonl.gz") if directory.is_dir() else ():
        if path.stat().st_mtime + 1 < since:
            continue
        found |= {r.get("dedup_id") for r in read_archive(path)} & wanted  # type: ignore[arg-type]
    return found


def check_poison(env: DrillEnv, injected: Injected) -> list[CheckResult]:
    ids = set(injected["message_ids"])
    total = len(ids)
    dlq_depth = depth(injected["dlq"])
    in_dlq = held_ids(injected["dlq"], ids) if dlq_depth else set()
    redriven = held_ids(injected["work_queue"], ids)
    parked = held_ids(injected["parking"], ids)
    archived = archived_ids(ids, float(injected["injected_at"]))
    accounted = redriven | parked | archived
    lost = ids - accounted - in_dlq
    numbers = {
        "total": total,
        "in_dlq": len(in_dlq),
        "redriven": len(redriven),
        "parked": len(parked),
        "archived": len(archived),
        "lost": len(lost),
    }
    return [
        CheckResult(
            "dlq_empty",
            dlq_depth == 0,
            f"{injected['dlq']} holds {dlq_depth} message(s), {len(in_dlq)} of {total} "
            "of them the drill's"
            if dlq_depth
            else f"{injected['dlq']} is empty",
            {"depth": dlq_depth, **numbers},
        ),
        CheckResult(
            "accounted",
            accounted == ids,
            f"{total - len(accounted)} of {total} drill messages not accounted for "
            f"({len(in_dlq)} still in the DLQ, {len(lost)} lost: neither redriven, parked "
            "nor archived)"
            if accounted != ids
            else f"all {total} drill messages accounted for ({len(redriven)} redriven, "
            f"{len(parked)} parked, {len(archived)} archived)",
            numbers,
        ),
    ]


def cleanup_poison(env: DrillEnv, injected: Injected, resolved: bool) -> dict[str, Any]:
    """Remove the drill's messages wherever they are (its archive records stay)."""
    ids = set(injected["message_ids"])
    removed = {
        queue: len(held_ids(queue, ids, remove=True))
        for queue in (injected["dlq"], injected["work_queue"], injected["parking"])
    }
    return {"removed": removed}


POISON_DLQ = Drill(
    name="poison-dlq",
    title="Poison messages flooding a DLQ",
    injects=f"N unparseable orders rejected by a consumer of {rabbit.WORK_QUEUE}, "
    f"dead-lettered into {rabbit.DLQ}",
    runbook="dlq-poison-messages",
    hints=(
        f"Look before you touch: `opsdeck dlq list` and `opsdeck dlq peek {rabbit.DLQ}` "
        "(the death reason is `rejected`, the origin the work queue).",
        f"Preview the drain: `opsdeck dlq drain {rabbit.DLQ} --dry-run`.",
        "Redrive them to where they came from (`--to original`, the default), or park "
        f"poison you must not redrive (`--max-redrives 0`: archived, then moved to "
        f"{rabbit.PARKING_QUEUE}), or archive them (`opsdeck dlq archive ...`).",
        "Nothing may be lost: every message id must end up redriven, parked or archived.",
    ),
    checks=(
        f"{rabbit.DLQ} is empty",
        "every drill message is redriven, parked or archived (ids compared)",
    ),
    default_count=5,
    inject=inject_poison,
    check=check_poison,
    cleanup=cleanup_poison,
    needs_rabbitmq=True,
)
