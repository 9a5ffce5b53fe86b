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
      drain_client: wire                 # default; `pika` drains through pika (slower,
                                          # same guarantees; see rabbitmq_fast_drain)

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
from typing import TYPE_CHECKING, Any

from console.errors import BackendError, BackendUnavailable, ConfigError, NotFound
from console.model_queues import DeathInfo, QueueInfo, QueueMessage

if TYPE_CHECKING:
    from adapters.rabbitmq_fast_drain import FastRabbitDrain
    from adapters.rabbitmq_pika_drain import RabbitDrain

REDRIVES_HEADER = "x-opsdeck-redrives"
DRAIN_HEADER = "x-opsdeck-drain"
_OWN_HEADERS = (REDRIVES_HEADER, DRAIN_HEADER)
DRAIN_CLIENTS = ("wire", "pika")
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
    deaths = headers.get("x-death") if headers else None
    if not deaths or not isinstance(deaths, list) or not isinstance(deaths[0], dict):
        return DeathInfo()
    first = deaths[0]
    when = first.get("time")
    if isinstance(when, datetime) and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    keys = first.get("routing-keys") or ()
    count = first.get("count")
    return DeathInfo(
        queue=_text(first.get("queue")),
        reason=_text(first.get("reason")),
        routing_keys=tuple(k if type(k) is str else str(_plain(k)) for k in keys),
        exchange=_text(first.get("exchange")),
        count=count if type(count) is int else int(count or 0),
        time=when if isinstance(when, datetime) else None,
    )


def _text(value: Any) -> str | None:
    # a drain calls this four times per message: text (the usual) needs no conversion
    if value is None or type(value) is str:
        return value
    return str(_plain(value))


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
    return message_from(body, headers, props, (handle, headers))


def message_from(
    body: bytes, headers: dict[str, Any], props: dict[str, Any], handle: Any
) -> QueueMessage:
    """A QueueMessage from decoded headers and (non-empty) properties."""
    props = {k: v for k, v in props.items() if v and k in _PROPS}
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
        handle=handle,
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
        drain_client: str = "wire",
    ) -> None:
        self.name = name
        self.host, self.port, self.vhost = host, port, vhost
        self.username = username
        self._password = password
        self.queues = tuple(queues)
        self.heartbeat = heartbeat
        self.drain_client = drain_client

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
        drain_client = settings.get("drain_client", "wire")
        if drain_client not in DRAIN_CLIENTS:
            raise ConfigError(
                f"drain_client: expected one of {', '.join(DRAIN_CLIENTS)}, got {drain_client!r}"
            )
        return cls(
            name,
            host=host,
            port=port,
            vhost=vhost,
            username=username,
            password=secret,
            queues=queues,
            drain_client=str(drain_client),
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

    def drain_source(
        self, queue: str, *, batch_size: int, hold_all: bool = False
    ) -> RabbitDrain | FastRabbitDrain:
        if self.drain_client == "pika":
            from adapters.rabbitmq_pika_drain import RabbitDrain

            return RabbitDrain(self, queue, batch_size=batch_size, hold_all=hold_all)
        from adapters.rabbitmq_fast_drain import FastRabbitDrain

        return FastRabbitDrain(self, queue, batch_size=batch_size, hold_all=hold_all)

    async def close(self) -> None:
        return None
