"""RabbitMQ dead-letter queues on the real broker: x-death, peek in place, list."""

from __future__ import annotations

import asyncio

from tests.integration.rabbit_fixtures import DeadLetterSetup, rabbit_fixture  # noqa: F401


def test_peek_parses_x_death_and_leaves_the_queue_unchanged(rabbit: DeadLetterSetup) -> None:
    ids = rabbit.dead_letter(5)
    adapter = rabbit.adapter()
    first = asyncio.run(adapter.peek(rabbit.dlq, 3))
    second = asyncio.run(adapter.peek(rabbit.dlq, 5))
    assert [m.dedup_id for m in first] == ids[:3]
    assert [m.dedup_id for m in second] == ids  # same order: peek put them back in place
    assert rabbit.depth(rabbit.dlq) == 5
    death = first[0].death
    assert death.queue == rabbit.work
    assert death.reason == "rejected"
    assert death.routing_keys == (rabbit.work,)
    assert death.count == 1
    assert death.time is not None


def test_list_queues_reports_depth_and_oldest_age(rabbit: DeadLetterSetup) -> None:
    rabbit.dead_letter(3)
    (info,) = asyncio.run(rabbit.adapter().list_queues())
    assert info.name == rabbit.dlq
    assert info.depth == 3
    assert info.oldest_age_s is not None and 0 <= info.oldest_age_s < 120
