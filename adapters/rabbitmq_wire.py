"""AMQP 0-9-1 frame codec for the drain's hot path (adapters.rabbitmq_connection).

Only what a drain sends and receives: method frames it needs, content headers and
bodies. Two things make it cheaper per message than a general client:

- a content header is decoded once into properties and headers (for the archive,
  the dedup id and ``x-death``), and its raw property bytes are kept: the republish
  reuses them, changing only ``message_id`` and one header entry, so nothing is
  re-encoded field by field (and header values keep their exact wire types);
- frames are parsed from one receive buffer with ``struct.unpack_from`` and written
  in one ``sendall`` per batch.

Value types follow pika's decoding (long strings as text when UTF-8, else bytes;
timestamps as aware UTC datetimes), so a message's dedup id is the same on either path.
"""

from __future__ import annotations

import decimal
import struct
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
FRAME_END = b"\xce"
HEARTBEAT = b"\x08\x00\x00\x00\x00\x00\x00\xce"
BASIC = 60

# Basic content-header property bits, in wire order.
PROPERTY_BITS: tuple[tuple[str, int, str], ...] = (
    ("content_type", 1 << 15, "s"),
    ("content_encoding", 1 << 14, "s"),
    ("headers", 1 << 13, "F"),
    ("delivery_mode", 1 << 12, "o"),
    ("priority", 1 << 11, "o"),
    ("correlation_id", 1 << 10, "s"),
    ("reply_to", 1 << 9, "s"),
    ("expiration", 1 << 8, "s"),
    ("message_id", 1 << 7, "s"),
    ("timestamp", 1 << 6, "T"),
    ("type", 1 << 5, "s"),
    ("user_id", 1 << 4, "s"),
    ("app_id", 1 << 3, "s"),
    ("cluster_id", 1 << 2, "s"),
)
HEADERS_BIT = 1 << 13
DELIVERY_MODE_BIT = 1 << 12
MESSAGE_ID_BIT = 1 << 7

_unpack_B = struct.Struct(">B").unpack_from
_unpack_H = struct.Struct(">H").unpack_from
_unpack_I = struct.Struct(">I").unpack_from
_unpack_Q = struct.Struct(">Q").unpack_from
_unpack_q = struct.Struct(">q").unpack_from
_frame_head = struct.Struct(">BHI")
_content_head = struct.Struct(">HHQH")


class ProtocolError(Exception):
    """The broker sent something this codec does not understand."""


# -- encoding -------------------------------------------------------------------------


def shortstr(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    if len(raw) > 255:
        raise ProtocolError(f"short string longer than 255 bytes: {raw[:40]!r}...")
    return bytes((len(raw),)) + raw


def longstr(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack(">I", len(raw)) + raw


def encode_value(value: Any) -> bytes:
    """One field value (the few kinds the client sends: its properties, a counter)."""
    if isinstance(value, bool):
        return b"t" + bytes((int(value),))
    if isinstance(value, int):
        return b"I" + struct.pack(">i", value)
    if isinstance(value, str | bytes):
        return b"S" + longstr(value)
    if isinstance(value, Mapping):
        return b"F" + encode_table(value)
    raise ProtocolError(f"cannot encode a {type(value).__name__} field")


def encode_table(table: Mapping[str, Any]) -> bytes:
    inner = b"".join(shortstr(k) + encode_value(v) for k, v in table.items())
    return struct.pack(">I", len(inner)) + inner


def frame(kind: int, channel: int, payload: bytes) -> bytes:
    return _frame_head.pack(kind, channel, len(payload)) + payload + FRAME_END


def method(channel: int, class_id: int, method_id: int, args: bytes = b"") -> bytes:
    return frame(FRAME_METHOD, channel, struct.pack(">HH", class_id, method_id) + args)


# -- decoding -------------------------------------------------------------------------


def _decode_value(data: bytes, at: int) -> tuple[Any, int]:
    kind = data[at]
    at += 1
    # the kinds x-death and most application headers use, without a dispatch call
    if kind == 83:  # S
        end = at + 4 + _unpack_I(data, at)[0]
        raw = data[at + 4 : end]
        try:
            return raw.decode(), end
        except UnicodeDecodeError:
            return raw, end
    if kind == 108:  # l
        return _unpack_q(data, at)[0], at + 8
    if kind == 70:  # F
        return decode_table(data, at)
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise ProtocolError(f"unknown field type {chr(kind)!r} at byte {at - 1}")
    return decoder(data, at)


def _longstr_value(data: bytes, at: int) -> tuple[Any, int]:
    size = _unpack_I(data, at)[0]
    raw = data[at + 4 : at + 4 + size]
    try:
        return raw.decode(), at + 4 + size
    except UnicodeDecodeError:
        return raw, at + 4 + size


def _bytes_value(data: bytes, at: int) -> tuple[Any, int]:
    size = _unpack_I(data, at)[0]
    return data[at + 4 : at + 4 + size], at + 4 + size


def _array_value(data: bytes, at: int) -> tuple[Any, int]:
    end = at + 4 + _unpack_I(data, at)[0]
    at += 4
    out = []
    while at < end:
        value, at = _decode_value(data, at)
        out.append(value)
    return out, at


def _decimal_value(data: bytes, at: int) -> tuple[Any, int]:
    places, raw = struct.unpack_from(">Bi", data, at)
    return decimal.Decimal(raw).scaleb(-places), at + 5


def _timestamp_value(data: bytes, at: int) -> tuple[Any, int]:
    return datetime.fromtimestamp(_unpack_Q(data, at)[0], UTC), at + 8


def _fixed(fmt: str, cast: Callable[[Any], Any] = lambda v: v) -> Callable[..., tuple[Any, int]]:
    codec = struct.Struct(fmt)
    size = codec.size

    def decode(data: bytes, at: int) -> tuple[Any, int]:
        return cast(codec.unpack_from(data, at)[0]), at + size

    return decode


def decode_table(data: bytes, at: int) -> tuple[dict[str, Any], int]:
    """A field table at ``at``; (table, offset after it)."""
    end = at + 4 + _unpack_I(data, at)[0]
    at += 4
    out: dict[str, Any] = {}
    while at < end:
        size = data[at]
        key = data[at + 1 : at + 1 + size].decode()
        out[key], at = _decode_value(data, at + 1 + size)
    return out, at


_DECODERS: dict[int, Callable[[bytes, int], tuple[Any, int]]] = {
    ord("t"): _fixed(">B", bool),
    ord("b"): _fixed(">b"),
    ord("B"): _fixed(">B"),
    ord("s"): _fixed(">h"),
    ord("U"): _fixed(">h"),
    ord("u"): _fixed(">H"),
    ord("I"): _fixed(">i"),
    ord("i"): _fixed(">I"),
    ord("l"): _fixed(">q"),
    ord("L"): _fixed(">q"),
    ord("f"): _fixed(">f"),
    ord("d"): _fixed(">d"),
    ord("D"): _decimal_value,
    ord("S"): _longstr_value,
    ord("x"): _bytes_value,
    ord("A"): _array_value,
    ord("T"): _timestamp_value,
    ord("F"): decode_table,
    ord("V"): lambda data, at: (None, at),
}


def read_shortstr(data: bytes, at: int) -> tuple[str, int]:
    size = data[at]
    return data[at + 1 : at + 1 + size].decode("utf-8", "replace"), at + 1 + size


class Content:
    """A content header as received: decoded properties and the raw bytes to reuse."""

    __slots__ = ("body_size", "entries", "flags", "headers", "properties", "raw", "spans")

    def __init__(self, payload: bytes) -> None:
        _cls, _weight, self.body_size, flags = _content_head.unpack_from(payload, 0)
        if flags & 1:
            raise ProtocolError("content header with continued property flags")
        self.flags = flags
        self.raw = payload
        self.properties: dict[str, Any] = {}
        self.headers: dict[str, Any] = {}
        self.spans: dict[int, tuple[int, int]] = {}  # property bit -> its raw bytes
        self.entries: dict[str, tuple[int, int]] = {}  # header name -> its raw entry
        at = 14
        for name, bit, kind in PROPERTY_BITS:
            if not flags & bit:
                continue
            start = at
            value: Any
            if kind == "s":
                value, at = read_shortstr(payload, at)
            elif kind == "o":
                value, at = payload[at], at + 1
            elif kind == "T":
                value, at = _unpack_Q(payload, at)[0], at + 8
            else:
                value, at = self._headers(payload, at)
            self.spans[bit] = (start, at)
            if name != "headers":
                self.properties[name] = value

    def _headers(self, data: bytes, at: int) -> tuple[None, int]:
        end = at + 4 + _unpack_I(data, at)[0]
        at += 4
        while at < end:
            start = at
            size = data[at]
            key = data[at + 1 : at + 1 + size].decode()
            self.headers[key], at = _decode_value(data, at + 1 + size)
            self.entries[key] = (start, at)
        return None, at

    def republished(self, message_id: str, set_header: str, value: int) -> bytes:
        """The content-header payload to publish: same properties and headers, with
        ``message_id`` set, ``set_header`` replaced by ``value`` and persistent delivery
        when the original did not say."""
        raw = self.raw
        flags = self.flags | HEADERS_BIT | MESSAGE_ID_BIT | DELIVERY_MODE_BIT
        parts = [_content_head.pack(BASIC, 0, self.body_size, flags)]
        for _name, bit, _kind in PROPERTY_BITS:
            if bit == HEADERS_BIT:
                parts.append(self._table_with(set_header, value))
            elif bit == MESSAGE_ID_BIT:
                parts.append(shortstr(message_id))
            elif bit in self.spans:
                start, end = self.spans[bit]
                parts.append(raw[start:end])
            elif bit == DELIVERY_MODE_BIT:
                parts.append(b"\x02")
        return b"".join(parts)

    def _table_with(self, name: str, value: int) -> bytes:
        raw = self.raw
        kept = [raw[s:e] for key, (s, e) in self.entries.items() if key != name]
        kept.append(shortstr(name) + encode_value(value))
        inner = b"".join(kept)
        return struct.pack(">I", len(inner)) + inner


def frame_max_body(frame_max: int) -> int:
    """Largest body-frame payload (the frame's 7-byte head and end octet count)."""
    return frame_max - 8
