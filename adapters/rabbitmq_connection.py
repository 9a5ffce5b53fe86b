"""A small blocking AMQP 0-9-1 connection for drains (codec: adapters.rabbitmq_wire).

Why not pika here: a drain's cost is per message, and two thirds of it was pika's
pure-Python frame and table coding (bench/RESULTS.md, issue 13). This connection does
only what a drain needs: login (PLAIN), channels, qos, tx, consume, publish, ack/nack,
queue.declare; everything else the broker may send is an error that ends the session.

- One thread; nothing happens between calls. ``pump`` reads whatever arrived and
  dispatches it: deliveries to their channel's sink, commit-oks to the callbacks
  waiting for them in order, other replies to the channel's reply queue.
- Heartbeats are negotiated (the adapter's ``heartbeat``) and sent from ``pump`` and
  ``send``, so the broker notices a dead client and requeues what it held; no data
  from the broker for two intervals is a lost connection.
- A lost connection (or Connection.Close from the broker) raises ``LostConnection``
  (a ConnectionError: the drain reconnects); a channel closed by the broker raises
  ``ChannelClosed`` with its reply code, and the channel cannot be used again.
"""

from __future__ import annotations

import collections
import contextlib
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from adapters.rabbitmq_wire import (
    FRAME_BODY,
    FRAME_HEADER,
    FRAME_METHOD,
    HEARTBEAT,
    Content,
    ProtocolError,
    encode_table,
    method,
    read_shortstr,
    shortstr,
)

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
_frame_head = struct.Struct(">BHI")
_method_head = struct.Struct(">HH")
_unpack_Q = struct.Struct(">Q").unpack_from
FRAME_MAX = 131072
Sink = Callable[[int, Content, bytes], None]


class LostConnection(ConnectionError):
    """The connection to the broker is gone; held messages are back in their queue."""


class ChannelClosed(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text = code, text


class Channel:
    """One channel: its replies, its deliveries' sink and its pending commit callbacks."""

    def __init__(self, connection: WireConnection, number: int, sink: Sink | None) -> None:
        self.connection = connection
        self.number = number
        self.sink = sink
        self.replies: collections.deque[tuple[int, int, bytes]] = collections.deque()
        self.commits: collections.deque[Callable[[], None]] = collections.deque()
        self.closed: ChannelClosed | None = None
        self._tag = 0
        self._content: Content | None = None
        self._parts: list[bytes] = []
        self._left = 0

    @property
    def is_open(self) -> bool:
        return self.closed is None and self.connection.is_open

    def on_method(self, class_id: int, method_id: int, payload: bytes) -> None:
        if class_id == 60 and method_id == 60:  # basic.deliver
            self._tag = _unpack_Q(payload, 5 + payload[4])[0]
        elif class_id == 90 and method_id == 21:  # tx.commit-ok
            if not self.commits:
                raise ProtocolError(f"channel {self.number}: commit-ok without a commit")
            self.commits.popleft()()
        elif class_id == 20 and method_id == 40:  # channel.close from the broker
            code = struct.unpack_from(">H", payload, 4)[0]
            text, _ = read_shortstr(payload, 6)
            self.closed = ChannelClosed(code, text)
            self.connection.send(method(self.number, 20, 41))
        else:
            self.replies.append((class_id, method_id, payload))

    def on_header(self, payload: bytes) -> None:
        content = Content(payload)
        if content.body_size == 0:
            self._deliver(content, b"")
        else:
            self._content, self._parts, self._left = content, [], content.body_size

    def on_body(self, payload: bytes) -> None:
        self._parts.append(payload)
        self._left -= len(payload)
        if self._left <= 0 and self._content is not None:
            content, self._content = self._content, None
            self._deliver(content, b"".join(self._parts))

    def _deliver(self, content: Content, body: bytes) -> None:
        if self.sink is None:
            raise ProtocolError(f"channel {self.number}: a delivery nobody consumes")
        self.sink(self._tag, content, body)

    def call(self, class_id: int, method_id: int, args: bytes, reply: tuple[int, int]) -> bytes:
        """Send a synchronous method and wait for its reply's payload."""
        self.check()
        self.connection.send(method(self.number, class_id, method_id, args))
        return self.wait(reply)

    def wait(self, reply: tuple[int, int]) -> bytes:
        deadline = time.monotonic() + self.connection.timeout
        while not self.replies:
            self.check()
            if time.monotonic() > deadline:
                raise LostConnection(f"no reply to {reply} in {self.connection.timeout:g}s")
            self.connection.pump(0.05)
        class_id, method_id, payload = self.replies.popleft()
        if (class_id, method_id) != reply:
            raise ProtocolError(f"expected {reply}, got {(class_id, method_id)}")
        return payload

    def check(self) -> None:
        if self.closed is not None:
            raise self.closed
        self.connection.check()


class WireConnection:
    def __init__(
        self,
        host: str,
        port: int,
        vhost: str,
        username: str,
        password: str,
        *,
        heartbeat: int = 30,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self.timeout = timeout
        self.heartbeat = heartbeat
        self.channels: dict[int, Channel] = {}
        self.frame_max = FRAME_MAX
        self._error: LostConnection | None = None
        self._buffer = b""
        self.blocked = False
        try:
            self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as exc:
            raise LostConnection(f"cannot connect to {host}:{port}: {exc}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self.sock.settimeout(timeout)
        self._last_in = self._last_out = time.monotonic()
        self._control = Channel(self, 0, None)
        self._handshake(vhost, username, password)

    # -- set-up ----------------------------------------------------------------------

    def _handshake(self, vhost: str, username: str, password: str) -> None:
        self.send(PROTOCOL_HEADER)
        self._control.wait((10, 10))  # connection.start
        # authentication_failure_close: a refused login is a 403 close, not a dropped socket
        capabilities = {"authentication_failure_close": True, "connection.blocked": True}
        client = encode_table(
            {"product": "opsdeck", "platform": "Python", "capabilities": capabilities}
        )
        response = b"\0" + username.encode() + b"\0" + password.encode()
        self.send(
            method(
                0,
                10,
                11,
                client + shortstr("PLAIN") + struct.pack(">I", len(response)) + response
                + shortstr("en_US"),
            )
        )  # fmt: skip
        tune = self._control.wait((10, 30))
        channel_max, frame_max, heartbeat = struct.unpack_from(">HIH", tune, 4)
        self.frame_max = min(frame_max or FRAME_MAX, FRAME_MAX)
        self.heartbeat = min(heartbeat, self.heartbeat) if heartbeat else self.heartbeat
        self.send(
            method(0, 10, 31, struct.pack(">HIH", channel_max, self.frame_max, self.heartbeat))
        )
        self.send(method(0, 10, 40, shortstr(vhost) + b"\x00\x00"))
        self._control.wait((10, 41))

    def channel(self, number: int, sink: Sink | None = None) -> Channel:
        channel = Channel(self, number, sink)
        self.channels[number] = channel
        channel.call(20, 10, b"\x00", (20, 11))
        return channel

    # -- I/O -------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._error is None

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def _lost(self, why: str) -> LostConnection:
        self._error = self._error or LostConnection(why)
        return self._error

    def send(self, data: bytes) -> None:
        self.check()
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise self._lost(f"sending to the broker: {exc}") from None
        self._last_out = time.monotonic()

    def pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` for data, then handle every complete frame."""
        self.check()
        now = time.monotonic()
        if self.heartbeat:
            if now - self._last_out >= self.heartbeat / 2:
                self.send(HEARTBEAT)
            if now - self._last_in > 2 * self.heartbeat:
                raise self._lost(f"no data from the broker for {now - self._last_in:.0f}s")
        try:
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if not readable:
                return
            data = self.sock.recv(1 << 20)
        except OSError as exc:
            raise self._lost(f"reading from the broker: {exc}") from None
        if not data:
            raise self._lost("the broker closed the connection")
        self._last_in = time.monotonic()
        self._frames(self._buffer + data if self._buffer else data)

    def _frames(self, data: bytes) -> None:
        at, size_all = 0, len(data)
        channels = self.channels
        while size_all - at >= 8:
            kind, number, size = _frame_head.unpack_from(data, at)
            end = at + 7 + size
            if end >= size_all:
                break
            if data[end] != 0xCE:
                raise self._lost("malformed frame from the broker (no frame-end octet)")
            payload = data[at + 7 : end]
            at = end + 1
            if number == 0:
                self._on_connection_frame(kind, payload)
                continue
            channel = channels.get(number)
            if channel is None:
                raise self._lost(f"frame for unknown channel {number}")
            if kind == FRAME_BODY:
                channel.on_body(payload)
            elif kind == FRAME_HEADER:
                channel.on_header(payload)
            elif kind == FRAME_METHOD:
                class_id, method_id = _method_head.unpack_from(payload, 0)
                channel.on_method(class_id, method_id, payload)
        self._buffer = data[at:]

    def _on_connection_frame(self, kind: int, payload: bytes) -> None:
        if kind != FRAME_METHOD:
            return  # heartbeat
        class_id, method_id = _method_head.unpack_from(payload, 0)
        if (class_id, method_id) == (10, 50):  # connection.close from the broker
            code = struct.unpack_from(">H", payload, 4)[0]
            text, _ = read_shortstr(payload, 6)
            self.send(method(0, 10, 51))
            raise self._lost(f"the broker closed the connection: {code} {text}")
        if (class_id, method_id) in ((10, 60), (10, 61)):  # connection.blocked/unblocked
            self.blocked = method_id == 60
            return
        self._control.replies.append((class_id, method_id, payload))

    def close(self) -> None:
        """Close politely when possible; unacknowledged messages go back to their queue."""
        if self._error is None:
            try:
                self.send(method(0, 10, 50, struct.pack(">H", 200) + shortstr("bye") + b"\0" * 4))
                self._control.wait((10, 51))
            except (OSError, LostConnection, ProtocolError, ChannelClosed):
                pass
        self._error = self._error or LostConnection("connection closed")
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> WireConnection:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()
