"""The RabbitMQ drain session on adapters.rabbitmq_connection (the default drain path).

Same protocol and guarantees as the pika session (adapters.rabbitmq.RabbitDrain, kept
as ``drain_client: pika``): two channels ("lanes") consume the DLQ, each in its own
AMQP transaction; a batch's publishes and acks are committed together, and the
commit-ok (sent by the broker once the publishes are routed and persisted) is the
destination's confirmation. While the broker commits one lane's batch, the next batch
is fetched, archived and journaled on the other lane. A lost connection loses only
uncommitted batches, which the broker rolls back and redelivers whole.

What is cheaper: no per-message table encoding (the content header is republished from
its received bytes with ``message_id`` and ``x-opsdeck-redrives`` changed), frames parsed
from one buffer, one socket write per batch, consecutive acks of a batch coalesced into
one ``multiple`` ack when they are the lane's oldest unacked deliveries.
"""

from __future__ import annotations

import contextlib
import struct
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from adapters.rabbitmq import REDRIVES_HEADER, message_from
from adapters.rabbitmq_connection import Channel, ChannelClosed, WireConnection
from adapters.rabbitmq_drain_session import DrainSessionBase
from adapters.rabbitmq_wire import FRAME_BODY, FRAME_HEADER, Content, frame, method, shortstr
from console.errors import BackendError, BackendUnavailable, NotAuthorized, NotFound
from console.model_queues import QueueMessage
from console.ports_dlq import Send

if TYPE_CHECKING:
    from adapters.rabbitmq import RabbitDeadLetterQueues

_ack = struct.Struct(">BHIHHQB")  # frame head, basic.ack, delivery tag, multiple
_EMPTY_TABLE = b"\x00\x00\x00\x00"


def _ack_frame(channel: int, tag: int, multiple: bool) -> bytes:
    return _ack.pack(1, channel, 13, 60, 80, tag, int(multiple)) + b"\xce"


class _Lane:
    """One transactional channel consuming the DLQ; at most one commit in flight."""

    def __init__(self, index: int, channel: Channel) -> None:
        self.index = index
        self.channel = channel
        self.buffer: list[QueueMessage] = []
        self.consuming = False
        self.committed = True
        self.unacked: set[int] = set()  # delivered, not acked, above acked_upto


class FastRabbitDrain(DrainSessionBase):
    """A transactional drain session on one DLQ; see the module docstring."""

    max_prefetch = 65535  # basic.qos prefetch-count is a short

    def __init__(
        self, queues: RabbitDeadLetterQueues, queue: str, *, batch_size: int, hold_all: bool
    ) -> None:
        super().__init__(queues, queue, batch_size=batch_size, hold_all=hold_all)
        self._connection: WireConnection | None = None
        self._lanes: list[_Lane] = []
        self._control: Channel | None = None
        self._publish_heads: dict[tuple[int, str], bytes] = {}

    # -- session ---------------------------------------------------------------------

    def _open(self) -> WireConnection:
        connection = self._connection
        if (
            connection is None
            or not connection.is_open
            or not all(lane.channel.is_open for lane in self._lanes)
        ):
            self.close()
            connection = self._connection = self._connect()
            self._lanes = []
            for index in range(self.lanes):
                lane = _Lane(index, connection.channel(index + 1, None))
                lane.channel.sink = self._sink(lane)
                qos = struct.pack(">IHB", 0, self.prefetch, 0)
                lane.channel.call(60, 10, qos, (60, 11))
                lane.channel.call(90, 10, b"", (90, 11))
                self._lanes.append(lane)
        return connection

    def _connect(self) -> WireConnection:
        q = self.queues
        password = q._password() if callable(q._password) else q._password
        try:
            return WireConnection(
                q.host, q.port, q.vhost, q.username, password, heartbeat=q.heartbeat
            )
        except ConnectionError as exc:
            if " 403 " in f" {exc} ":
                raise NotAuthorized(
                    f"RabbitMQ at {q.address} refused the login of user {q.username!r}: {exc}"
                ) from None
            raise BackendUnavailable(
                "RabbitMQ",
                q.address,
                str(exc),
                hint="is the broker running, and are user and vhost right?",
            ) from None

    def _control_channel(self) -> Channel:
        connection = self._open()
        if self._control is None or not self._control.is_open:
            self._control = connection.channel(self.lanes + 1 + len(connection.channels))
        return self._control

    def _declare(self, queue: str, *, passive: bool) -> int:
        channel = self._control_channel()
        bits = 1 if passive else 2  # passive, or durable
        args = b"\x00\x00" + shortstr(queue) + bytes((bits,)) + _EMPTY_TABLE
        try:
            reply = channel.call(50, 10, args, (50, 11))
        except ChannelClosed as exc:
            if exc.code == 404:
                raise NotFound(f"queue {queue!r} does not exist on {self.queues.address}") from None
            raise BackendError(f"RabbitMQ: {exc.text}") from None
        name_size = reply[4]
        return int(struct.unpack_from(">I", reply, 5 + name_size)[0])

    def _sink(self, lane: _Lane) -> Callable[[int, Content, bytes], None]:
        buffer, unacked = lane.buffer, lane.unacked

        def deliver(tag: int, content: Content, body: bytes) -> None:
            unacked.add(tag)
            buffer.append(
                message_from(
                    body, content.headers, content.properties, ((lane.index, tag), content)
                )
            )

        return deliver

    def _wait(self, lane: _Lane) -> None:
        connection = self._connection
        deadline = time.monotonic() + (connection.timeout if connection else 0)
        while not lane.committed:
            assert connection is not None
            lane.channel.check()
            if time.monotonic() > deadline:
                raise BackendError(f"RabbitMQ: no tx.commit-ok in {connection.timeout:g}s")
            connection.pump(0.05)

    # -- DrainSource -----------------------------------------------------------------

    def depth(self) -> int:
        """Ready messages; measured before consuming starts, so none are in flight to us."""
        return self._declare(self.queue, passive=True)

    def ensure_queue(self, queue: str, *, create: bool = False) -> None:
        """Passive-declare a destination (or declare a parking queue) once per session."""
        if queue in self._checked:
            return
        self._declare(queue, passive=not create)
        self._checked.add(queue)

    def fetch(self, limit: int, timeout: float) -> list[QueueMessage]:
        """A batch from the next lane whose previous commit is confirmed."""
        connection = self._open()
        lanes = self._lanes
        lane = lanes[self._next % len(lanes)]
        self._next += 1
        self._wait(lane)
        for each in lanes:
            if not each.consuming:
                args = b"\x00\x00" + shortstr(self.queue) + shortstr("") + b"\x00" + _EMPTY_TABLE
                each.channel.call(60, 20, args, (60, 21))
                each.consuming = True
        give_up = time.monotonic() + connection.timeout
        checked = False
        while True:
            self._fill(connection, lane, limit, timeout)
            ready = self._with_messages(lane)
            if ready is not None:
                lane = ready
                break
            # Nothing for ``timeout``: the end only when the DLQ has no ready message left
            # (a busy broker can take longer than that to deliver after a commit); what is
            # already on its way to us gets one more moment.
            if checked or time.monotonic() > give_up:
                break
            checked = self._declare(self.queue, passive=True) == 0
            timeout = 0.5 if checked else timeout
        out = lane.buffer[:limit]
        del lane.buffer[:limit]
        return out

    def _fill(self, connection: WireConnection, lane: _Lane, limit: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(lane.buffer) < limit:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            before = len(lane.buffer)
            connection.pump(min(left, 0.05))
            if lane.buffer and len(lane.buffer) == before:
                break  # nothing more ready for this lane right now

    def _with_messages(self, lane: _Lane) -> _Lane | None:
        """``lane`` if it has messages, else another lane that has (its commit waited)."""
        if lane.buffer:
            return lane
        for other in self._lanes:  # the broker gave what was left to the other lane
            if other.buffer:
                self._wait(other)
                return other
        return None

    def _lane_of(self, messages: Sequence[QueueMessage]) -> _Lane:
        lanes = {m.handle[0][0] for m in messages}
        if len(lanes) != 1:
            raise BackendError("internal: one commit must hold messages of one channel")
        return self._lanes[int(lanes.pop())]

    def _acks(self, lane: _Lane, tags: Sequence[int]) -> list[bytes]:
        """Ack frames for ``tags``: one ``multiple`` ack when they are exactly the lane's
        oldest unacked deliveries (the usual case), else one each."""
        number = lane.channel.number
        top = max(tags)
        wanted = set(tags)
        oldest = wanted <= lane.unacked and all(t in wanted for t in lane.unacked if t <= top)
        lane.unacked -= wanted
        if oldest and len(wanted) == len(tags):
            return [_ack_frame(number, top, True)]
        return [_ack_frame(number, tag, False) for tag in tags]

    def _publish_frames(self, lane: _Lane, send: Send) -> list[bytes]:
        assert send.queue is not None
        number = lane.channel.number
        head = self._publish_heads.get((number, send.queue))
        if head is None:
            args = b"\x00\x00" + shortstr("") + shortstr(send.queue) + b"\x00"
            head = self._publish_heads[(number, send.queue)] = method(number, 60, 40, args)
        message = send.message
        content: Content = message.handle[1]
        header = content.republished(message.dedup_id, REDRIVES_HEADER, message.redrives + 1)
        out = [head, frame(FRAME_HEADER, number, header)]
        body, step = message.body, self._connection_frame_body()
        for start in range(0, len(body), step):
            out.append(frame(FRAME_BODY, number, body[start : start + step]))
        return out

    def _connection_frame_body(self) -> int:
        assert self._connection is not None
        return self._connection.frame_max - 8

    def commit(self, sends: Sequence[Send], on_confirmed: Callable[[], None]) -> None:
        """Publish and ack the batch in one write and send tx.commit; ``on_confirmed``
        runs when its commit-ok arrives (``flush`` or a later call waits for it)."""
        if not sends:
            return
        lane = self._lane_of([s.message for s in sends])
        self._wait(lane)
        connection = self._open()
        pieces: list[bytes] = []
        for send in sends:
            if send.queue is not None:
                pieces += self._publish_frames(lane, send)
        pieces += self._acks(lane, [s.message.handle[0][1] for s in sends])
        pieces.append(method(lane.channel.number, 90, 20))
        lane.committed = False

        def committed() -> None:
            lane.committed = True
            on_confirmed()

        lane.channel.commits.append(committed)
        connection.send(b"".join(pieces))

    def _sync(self, messages: Sequence[QueueMessage], requeue: bool | None) -> None:
        assert self._connection is not None
        by_lane: dict[int, list[int]] = {}
        for message in messages:
            by_lane.setdefault(message.handle[0][0], []).append(message.handle[0][1])
        for index, tags in by_lane.items():
            lane = self._lanes[index]
            self._wait(lane)
            number = lane.channel.number
            if requeue is None:
                pieces = self._acks(lane, tags)
            else:
                lane.unacked.difference_update(tags)
                bits = bytes((2 if requeue else 0,))
                pieces = [method(number, 60, 120, struct.pack(">Q", t) + bits) for t in tags]
            lane.committed = False
            lane.channel.commits.append(partial(setattr, lane, "committed", True))
            self._connection.send(b"".join([*pieces, method(number, 90, 20)]))
            self._wait(lane)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        self._lanes, self._control = [], None
        self._publish_heads.clear()
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    @property
    def socket(self) -> Any:
        """The live socket (tests cut it to simulate a network failure)."""
        return None if self._connection is None else self._connection.sock
