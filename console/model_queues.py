"""Queue domain types (dead-letter queues): frozen dataclasses, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DeathInfo:
    """Why and where a message died (RabbitMQ's newest x-death entry, SQS's source)."""

    queue: str | None = None
    reason: str | None = None
    routing_keys: tuple[str, ...] = ()
    exchange: str | None = None
    count: int = 0
    time: datetime | None = None


@dataclass(frozen=True)
class QueueInfo:
    name: str
    adapter: str
    depth: int
    oldest_age_s: float | None = None
    sources: tuple[str, ...] = ()
    in_flight: int = 0


@dataclass(frozen=True)
class QueueMessage:
    """One dead-lettered message as read from a DLQ.

    ``dedup_id`` is stable across redeliveries and redrives: the message's own id when
    it has one, else a digest of body, headers and properties (set as the message id of
    the redriven copy, so later drains see the same id). ``handle`` is the adapter's
    receipt (RabbitMQ delivery tag, SQS receipt handle); ``redrives`` counts how often
    opsdeck already redrove this message (header ``x-opsdeck-redrives``).
    """

    dedup_id: str
    body: bytes
    headers: Mapping[str, Any] = field(default_factory=dict)
    properties: Mapping[str, Any] = field(default_factory=dict)
    death: DeathInfo = field(default_factory=DeathInfo)
    redrives: int = 0
    enqueued: datetime | None = None
    handle: Any = None

    @property
    def reason(self) -> str:
        return self.death.reason or "unknown"

    def body_text(self) -> str:
        return self.body.decode("utf-8", errors="replace")
