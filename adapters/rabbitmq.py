"""RabbitMQ dead-letter queues (pika, blocking connections in worker threads).

Settings (a context's ``queues:`` entry, ``kind: rabbitmq``)::

    - kind: rabbitmq
      name: rabbit
      url: amqp://127.0.0.1:5672/%2F     # or host/port/vhost
      username: guest
      password: keyring:opsdeck/rabbit   # a keyring reference, never plain text (only a
                                          # `sandbox: true` context may rely on guest/guest
                                          # for a broker on 127.0.0.1)
      queues: [orders.dlq, billing.dlq]  # the DLQs (queues that x-dead-letter-exchange
                                          # routes into); RabbitMQ has no list API
                                          # without the management plugin

Decisions:
- Peek uses ``basic.get`` without ack on its own channel, then closes the channel: the
  broker puts unacknowledged messages back in their original position (classic queues),
  so peeking never reorders or loses a message. It does set their ``redelivered`` flag,
  and on quorum queues it increments ``x-delivery-count`` (mind a ``delivery-limit``).
- A drain moves messages in AMQP transactions (``tx.select``): each batch's publishes to
  the destination and acks from the DLQ are committed together, and ``tx.commit-ok``
  arrives only after the broker has routed (and, for durable queues, persisted) the
  publishes: it is the destination's confirmation. Publisher confirms alone leave a
  window (confirmed, then the drain is killed before it records that) in which a resumed
  drain cannot tell whether to send again; a transaction has no such window for client
  crashes or dropped connections: an uncommitted batch is rolled back by the broker and
  redelivered whole.
- Messages are sent through the default exchange straight to the destination queue
  (the original queue from ``x-death``), which must exist: it is checked with a passive
  declare first, because an unroutable publish would otherwise vanish.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import urllib.parse
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from console.errors import BackendError, BackendUnavailable, ConfigError, NotFound
from console.model_queues import DeathInfo, QueueInfo, QueueMessage
from console.ports_dlq import Send

REDRIVES_HEADER = "x-opsdeck-redrives"
DRAIN_HEADER = "x-opsdeck-drain"
_OWN_HEADERS = (REDRIVES_HEADER, DRAIN_HEADER)
# Without a password the adapter logs in as guest/guest, which works only from loopback
# (console.config allows relying on it only in a `sandbox: true` context).
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_PROPS = (
    "content_type",
    "content_encoding",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "timestamp",
    "type",
    "user_id",
    "app_id",
)


def _plain(value: Any) -> Any:
    """AMQP table values as JSON-able data (bytes as text, times as ISO)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def parse_x_death(headers: dict[str, Any] | None) -> DeathInfo:
    """The newest ``x-death`` entry (RabbitMQ keeps the most recent first)."""
    deaths = (headers or {}).get("x-death") or []
    if not deaths or not isinstance(deaths, list):
        return DeathInfo()
    first = deaths[0]
    when = first.get("time")
    if isinstance(when, datetime) and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    keys = first.get("routing-keys") or []
    return DeathInfo(
        queue=_text(first.get("queue")),
        reason=_text(first.get("reason")),
        routing_keys=tuple(str(_plain(k)) for k in keys),
        exchange=_text(first.get("exchange")),
        count=int(first.get("count") or 0),
        time=when if isinstance(when, datetime) else None,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(_plain(value))


def dedup_id(body: bytes, headers: dict[str, Any], props: dict[str, Any]) -> str:
    """The message's own id, else a digest that is the same on every redelivery."""
    if props.get("message_id"):
        return str(props["message_id"])
    stable = {k: v for k, v in headers.items() if k != "x-death" and k not in _OWN_HEADERS}
    death = parse_x_death(headers)
    key = json.dumps(
        {
            "h": _plain(stable),
            "p": {k: _plain(v) for k, v in props.items() if k != "headers"},
            "q": death.queue,
            "t": _plain(death.time),
        },
        sort_keys=True,
        default=str,
    ).encode()
    return "sha256:" + hashlib.sha256(key + b"\0" + body).hexdigest()[:40]


def to_message(body: bytes, properties: Any, handle: Any = None) -> QueueMessage:
    headers = dict(properties.headers or {})
    props = {name: getattr(properties, name) for name in _PROPS if getattr(properties, name)}
    death = parse_x_death(headers)
    stamp = props.get("timestamp")
    enqueued = death.time or (
        datetime.fromtimestamp(int(stamp), UTC) if isinstance(stamp, int) else None
    )
    return QueueMessage(
        dedup_id=dedup_id(body, headers, props),
        body=body,
        headers=headers,  # as decoded; made JSON-able where shown or archived (default=str)
        properties=props,
        death=death,
        redrives=int(headers.get(REDRIVES_HEADER) or 0),
        enqueued=enqueued,
        handle=(handle, headers),
    )


class RabbitDeadLetterQueues:
    kind = "rabbitmq"

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        vhost: str,
        username: str,
        password: str | Callable[[], str],
        queues: Sequence[str],
        heartbeat: int = 30,
    ) -> None:
        self.name = name
        self.host, self.port, self.vhost = host, port, vhost
        self.username = username
        self._password = password
        self.queues = tuple(queues)
        self.heartbeat = heartbeat

    @classmethod
    def from_config(
        cls, name: str, settings: dict[str, object], resolve_secret: Callable[[str], str]
    ) -> RabbitDeadLetterQueues:
        url = settings.get("url")
        host, port, vhost = "127.0.0.1", 5672, "/"
        username, password = "guest", "guest"
        if url is not None:
            if not isinstance(url, str) or not url.startswith(("amqp://", "amqps://")):
                raise ConfigError("url: expected amqp://HOST:PORT/VHOST")
            parts = urllib.parse.urlsplit(url)
            host = parts.hostname or host
            port = parts.port or port
            path = parts.path[1:] if parts.path.startswith("/") else parts.path
            vhost = urllib.parse.unquote(path) if path else "/"
            username = urllib.parse.unquote(parts.username or username)
            if parts.password:
                raise ConfigError("url: put the password under `password` as a keyring reference")
        host = str(settings.get("host", host))
        port = int(str(settings.get("port", port)))
        vhost = str(settings.get("vhost", vhost))
        username = str(settings.get("username", username))
        ref = settings.get("password")
        secret: str | Callable[[], str] = password
        if isinstance(ref, str) and ref:
            secret = (lambda: resolve_secret(ref)) if ref.startswith("keyring:") else ref
        elif host not in _LOOPBACK:  # the broker refuses guest/guest from elsewhere anyway
            raise ConfigError(
                "password: required for a broker not on this machine (a keyring reference)"
            )
        queues = settings.get("queues") or []
        if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
            raise ConfigError("queues: expected a list of queue names")
        return cls(
            name,
            host=host,
            port=port,
            vhost=vhost,
            username=username,
            password=secret,
            queues=queues,
        )

    # -- connections -----------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"amqp://{self.host}:{self.port}/{urllib.parse.quote(self.vhost, safe='')}"

    def connect(self) -> Any:
        import pika

        password = self._password() if callable(self._password) else self._password
        params = pika.ConnectionParameters(
            host=self.host,
            port=self.port,
            virtual_host=self.vhost,
            credentials=pika.PlainCredentials(self.username, password),
            heartbeat=self.heartbeat,
            blocked_connection_timeout=60,
            connection_attempts=1,
            socket_timeout=5,
        )
        try:
            return pika.BlockingConnection(params)
        except pika.exceptions.AMQPError as exc:
            raise BackendUnavailable(
                "RabbitMQ",
                self.address,
                type(exc).__name__ + (f": {exc}" if str(exc) else ""),
                hint="is the broker running, and are user and vhost right?",
            ) from None

    def recoverable_errors(self) -> tuple[type[BaseException], ...]:
        import pika

        return (
            pika.exceptions.AMQPConnectionError,
            pika.exceptions.ConnectionWrongStateError,
            pika.exceptions.ChannelWrongStateError,
            pika.exceptions.StreamLostError,
            ConnectionError,
        )

    # -- reads -----------------------------------------------------------------------

    def depth_sync(self, connection: Any, queue: str) -> int:
        import pika

        channel = connection.channel()
        try:
            frame = channel.queue_declare(queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                raise NotFound(f"queue {queue!r} does not exist on {self.address}") from None
            raise BackendError(f"RabbitMQ: {exc.reply_text}") from None
        depth = int(frame.method.message_count)
        if channel.is_open:
            channel.close()
        return depth

    def peek_sync(self, queue: str, limit: int) -> list[QueueMessage]:
        connection = self.connect()
        try:
            self.depth_sync(connection, queue)  # NotFound for a missing queue
            channel = connection.channel()
            out: list[QueueMessage] = []
            while len(out) < limit:
                method, props, body = channel.basic_get(queue, auto_ack=False)
                if method is None:
                    break
                out.append(to_message(body, props))
            channel.close()  # unacked messages go back in their place
            return out
        finally:
            connection.close()

    def list_sync(self) -> list[QueueInfo]:
        connection = self.connect()
        try:
            infos = []
            for queue in self.queues:
                depth = self.depth_sync(connection, queue)
                age = None
                if depth:
                    channel = connection.channel()
                    method, props, body = channel.basic_get(queue, auto_ack=False)
                    channel.close()
                    if method is not None:
                        head = to_message(body, props)
                        if head.enqueued is not None:
                            age = (datetime.now(UTC) - head.enqueued).total_seconds()
                infos.append(QueueInfo(queue, self.name, depth, age))
            return infos
        finally:
            connection.close()

    async def list_queues(self) -> Sequence[QueueInfo]:
        return await asyncio.to_thread(self.list_sync)

    async def peek(self, queue: str, limit: int) -> Sequence[QueueMessage]:
        return await asyncio.to_thread(self.peek_sync, queue, limit)

    # -- chaos (console.ports_chaos.MessagePublisher) -----------------------------------

    def publish_sync(self, queue: str, body: bytes, count: int) -> list[str]:
        """Publish with confirms (each id unique), so every returned id is on the broker."""
        import uuid

        import pika

        connection = self.connect()
        try:
            self.depth_sync(connection, queue)  # NotFound for a missing queue
            channel = connection.channel()
            channel.confirm_delivery()
            ids = []
            for _ in range(count):
                mid = f"opsdeck-chaos-{uuid.uuid4().hex}"
                props = pika.BasicProperties(
                    message_id=mid, delivery_mode=2, headers={"opsdeck-chaos": "poison"}
                )
                channel.basic_publish("", queue, body, props, mandatory=True)
                ids.append(mid)
            return ids
        finally:
            connection.close()

    def remove_ids_sync(self, queue: str, ids: set[str]) -> list[str]:
        """Hold every message, ack the wanted ones; closing the channel puts the rest back
        in their place."""
        connection = self.connect()
        removed: list[str] = []
        try:
            depth = self.depth_sync(connection, queue)
            channel = connection.channel()
            for _ in range(depth):
                method, props, _body = channel.basic_get(queue, auto_ack=False)
                if method is None:
                    break
                if props.message_id in ids:
                    channel.basic_ack(method.delivery_tag)
                    removed.append(str(props.message_id))
                    if len(removed) == len(ids):
                        break
            channel.close()
            return removed
        finally:
            connection.close()

    def drain_source(self, queue: str, *, batch_size: int, hold_all: bool = False) -> RabbitDrain:
        return RabbitDrain(self, queue, batch_size=batch_size, hold_all=hold_all)

    async def close(self) -> None:
        return None


class _Lane:
    """One transactional channel consuming the DLQ; at most one commit in flight."""

    def __init__(self, index: int, channel: Any) -> None:
        self.index = index
        self.channel = channel
        self.buffer: list[QueueMessage] = []
        self.consuming = False
        self.pending: Callable[[], None] | None = None  # runs when commit-ok arrives
        self.committed = True


class RabbitDrain:
    """A transactional drain session on one DLQ (see the module docstring).

    Two channels ("lanes") consume the DLQ, each in its own transaction, so the broker
    persists one batch while the next is fetched, archived and published: ``commit``
    returns once the batch is sent and calls ``on_confirmed`` when its commit-ok
    arrives; ``flush`` waits for every commit in flight. A lost connection loses only
    unconfirmed batches, which the broker rolls back (or committed whole).
    """

    atomic_commit = True
    lanes = 2

    def __init__(
        self, queues: RabbitDeadLetterQueues, queue: str, *, batch_size: int, hold_all: bool
    ) -> None:
        self.queues = queues
        self.queue = queue
        self.batch_size = batch_size
        # A selective drain holds non-matching messages until it ends (released in place),
        # so the prefetch window must not count them: unlimited then.
        self.prefetch = 0 if hold_all else max(batch_size, 50)
        self._connection: Any = None
        self._lanes: list[_Lane] = []
        self._next = 0
        self._checked: set[str] = set()

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

    def flush(self) -> None:
        """Wait for every commit in flight (their on_confirmed callbacks run)."""
        for lane in self._lanes:
            self._wait(lane)

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

    def close(self) -> None:
        import contextlib

        connection, self._connection, self._lanes = self._connection, None, []
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
