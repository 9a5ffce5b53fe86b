"""What both RabbitMQ drain sessions share (adapters.rabbitmq_fast_drain, the default,
and adapters.rabbitmq_pika_drain, ``drain_client: pika``): the session's settings and
the remove/release/reconnect/flush steps, which differ only in how a lane waits and how
its acks are committed (``_wait``, ``_sync``, ``_open``, ``close``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from console.model_queues import QueueMessage

if TYPE_CHECKING:
    from adapters.rabbitmq import RabbitDeadLetterQueues


class DrainSessionBase:
    """Two transactional lanes on one DLQ; see adapters.rabbitmq's docstring."""

    atomic_commit = True
    lanes = 2
    max_prefetch = 0  # 0: no cap beyond AMQP's; the wire client caps at 65535

    def __init__(
        self, queues: RabbitDeadLetterQueues, queue: str, *, batch_size: int, hold_all: bool
    ) -> None:
        self.queues = queues
        self.queue = queue
        self.batch_size = batch_size
        # A selective drain holds non-matching messages until it ends (released in
        # place), so the prefetch window must not count them: unlimited then.
        prefetch = max(batch_size, 50)
        if self.max_prefetch:
            prefetch = min(prefetch, self.max_prefetch)
        self.prefetch = 0 if hold_all else prefetch
        self._connection: Any = None
        self._lanes: list[Any] = []
        self._next = 0
        self._checked: set[str] = set()

    # Each session implements these four.
    def _open(self) -> Any:
        raise NotImplementedError

    def _wait(self, lane: Any) -> None:
        raise NotImplementedError

    def _sync(self, messages: Sequence[QueueMessage], requeue: bool | None) -> None:
        """Ack (requeue None) or nack the messages on their lanes, committed."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Wait for every commit in flight (their on_confirmed callbacks run)."""
        for lane in self._lanes:
            self._wait(lane)

    def remove(self, messages: Sequence[QueueMessage]) -> None:
        self._open()
        self._sync(messages, None)

    def release(self, messages: Sequence[QueueMessage]) -> None:
        if self._connection is None or not self._connection.is_open:
            return  # a closed connection already gave them back
        self._sync(messages, True)

    def reconnect(self) -> None:
        self.close()
        self._checked.clear()
        self._open()
