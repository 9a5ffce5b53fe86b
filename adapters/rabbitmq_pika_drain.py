"""The RabbitMQ drain session on pika (``drain_client: pika``; the default is
adapters.rabbitmq_fast_drain). Protocol and guarantees: adapters.rabbitmq's docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from adapters.rabbitmq import REDRIVES_HEADER, to_message
from adapters.rabbitmq_drain_session import DrainSessionBase
from console.errors import BackendError
from console.model_queues import QueueMessage
from console.ports_dlq import Send


class _Lane:
    """One transactional channel consuming the DLQ; at most one commit in flight."""

    def __init__(self, index: int, channel: Any) -> None:
        self.index = index
        self.channel = channel
        self.buffer: list[QueueMessage] = []
        self.consuming = False
        self.pending: Callable[[], None] | None = None  # runs when commit-ok arrives
        self.committed = True


class RabbitDrain(DrainSessionBase):
    """A transactional drain session on one DLQ (see the module docstring).

    Two channels ("lanes") consume the DLQ, each in its own transaction, so the broker
    persists one batch while the next is fetched, archived and published: ``commit``
    returns once the batch is sent and calls ``on_confirmed`` when its commit-ok
    arrives; ``flush`` waits for every commit in flight. A lost connection loses only
    unconfirmed batches, which the broker rolls back (or committed whole).
    """

    def _open(self) -> list[_Lane]:
        if (
            self._connection is None
            or not self._connection.is_open
            or not all(lane.channel.is_open for lane in self._lanes)
        ):
            self.close()
            self._connection = self.queues.connect()
            self._lanes = []
            for index in range(self.lanes):
                channel = self._connection.channel()
                channel.basic_qos(prefetch_count=self.prefetch)
                channel.tx_select()
                self._lanes.append(_Lane(index, channel))
        return self._lanes

    def _wait(self, lane: _Lane) -> None:
        while not lane.committed:
            self._connection.process_data_events(time_limit=0.05)

    def depth(self) -> int:
        """Ready messages; measured before consuming starts, so none are in flight to us."""
        self._open()
        return self.queues.depth_sync(self._connection, self.queue)

    def ensure_queue(self, queue: str, *, create: bool = False) -> None:
        """Passive-declare a destination (or declare a parking queue) once per session."""
        if queue in self._checked:
            return
        self._open()
        if create:
            channel = self._connection.channel()
            channel.queue_declare(queue, durable=True)
            channel.close()
        else:
            self.queues.depth_sync(self._connection, queue)
        self._checked.add(queue)

    def fetch(self, limit: int, timeout: float) -> list[QueueMessage]:
        """A batch from the next lane whose previous commit is confirmed."""
        import time

        lanes = self._open()
        lane = lanes[self._next % len(lanes)]
        self._next += 1
        self._wait(lane)
        for each in lanes:
            if not each.consuming:
                each.channel.basic_consume(
                    self.queue, partial(self._on_message, each), auto_ack=False
                )
                each.consuming = True
        deadline = time.monotonic() + timeout
        while len(lane.buffer) < limit:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            before = len(lane.buffer)
            self._connection.process_data_events(time_limit=min(left, 0.05))
            if lane.buffer and len(lane.buffer) == before:
                break  # nothing more ready for this lane right now
        if not lane.buffer:  # the broker gave what was left to the other lane
            for other in lanes:
                if other.buffer:
                    self._wait(other)
                    lane = other
                    break
        out, lane.buffer = lane.buffer[:limit], lane.buffer[limit:]
        return out

    def _on_message(self, lane: _Lane, _channel: Any, method: Any, props: Any, body: bytes) -> None:
        lane.buffer.append(to_message(body, props, (lane.index, method.delivery_tag)))

    def _lane_of(self, messages: Sequence[QueueMessage]) -> _Lane:
        lanes = {m.handle[0][0] for m in messages}
        if len(lanes) != 1:
            raise BackendError("internal: one commit must hold messages of one channel")
        lane: _Lane = self._lanes[int(lanes.pop())]
        return lane

    def _publish(self, lane: _Lane, send: Send) -> None:
        import pika

        assert send.queue is not None
        message = send.message
        _tag, raw_headers = message.handle
        headers = dict(raw_headers)
        headers[REDRIVES_HEADER] = message.redrives + 1
        props = dict(message.properties)
        props["message_id"] = message.dedup_id
        props.setdefault("delivery_mode", 2)
        lane.channel._impl.basic_publish(
            exchange="",
            routing_key=send.queue,
            body=message.body,
            properties=pika.BasicProperties(headers=headers, **props),
        )

    def commit(self, sends: Sequence[Send], on_confirmed: Callable[[], None]) -> None:
        # pika's BlockingChannel flushes the socket after every publish and ack (one
        # poll each, ~1,000 msg/s); its underlying channel (``_impl``) only queues the
        # frames; the batch goes out in one write, and tx.commit's reply is handled
        # asynchronously so the next batch is prepared while the broker persists this one.
        if not sends:
            return
        lane = self._lane_of([s.message for s in sends])
        self._wait(lane)
        for send in sends:
            if send.queue is not None:
                self._publish(lane, send)
        for send in sends:
            lane.channel._impl.basic_ack(send.message.handle[0][1])
        self._coalesce_output()
        lane.committed = False

        def committed(_frame: Any) -> None:
            lane.committed = True
            on_confirmed()

        lane.channel._impl.tx_commit(committed)
        self._connection.process_data_events(time_limit=0)  # send it now

    def _coalesce_output(self) -> None:
        """One socket write for the whole batch instead of one per frame (3 per message).

        Reaches into pika's transport; if that ever changes, this just does nothing.
        """
        transport = getattr(getattr(self._connection, "_impl", None), "_transport", None)
        buffers = getattr(transport, "_tx_buffers", None)
        if buffers is not None and len(buffers) > 1:
            joined = b"".join(buffers)
            buffers.clear()
            buffers.append(joined)

    def _sync(self, messages: Sequence[QueueMessage], requeue: bool | None) -> None:
        by_lane: dict[int, list[QueueMessage]] = {}
        for message in messages:
            by_lane.setdefault(message.handle[0][0], []).append(message)
        for index, group in by_lane.items():
            lane = self._lanes[index]
            self._wait(lane)
            for message in group:
                if requeue is None:
                    lane.channel.basic_ack(message.handle[0][1])
                else:
                    lane.channel.basic_nack(message.handle[0][1], requeue=requeue)
            lane.channel.tx_commit()

    def close(self) -> None:
        import contextlib

        connection, self._connection, self._lanes = self._connection, None, []
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
