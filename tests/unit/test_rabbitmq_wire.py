"""The drain's AMQP codec against pika's, used here as an independent reference.

What matters: every header a broker can hand us decodes to what pika decodes (so the
dedup id of a message is the same on both drain clients), and a republished content
header says exactly what the original said, except message_id and the redrive count.
"""

from __future__ import annotations

import decimal
from datetime import UTC, datetime
from typing import Any

import pika
import pytest
from pika import data as pika_data

from adapters.rabbitmq_wire import Content, ProtocolError, decode_table, shortstr

WHEN = datetime(2026, 12, 3, 8, 30, tzinfo=UTC)
HEADERS: dict[str, Any] = {
    "text": "héllo",
    "blob": b"\xff\x00raw",
    "flag": True,
    "small": 7,
    "big": 2**40,
    "neg": -3,
    "money": decimal.Decimal("12.34"),
    "when": WHEN,
    "nothing": None,
    "x-death": [
        {
            "count": 2,
            "reason": "rejected",
            "queue": "orders",
            "time": WHEN,
            "exchange": "",
            "routing-keys": ["orders", "orders.eu"],
        }
    ],
    "nested": {"a": {"b": [1, "two"]}},
    "x-opsdeck-redrives": 1,
}


def _encoded(properties: pika.BasicProperties, body_size: int = 10) -> bytes:
    """A content-header payload as pika writes it."""
    from pika.frame import Header

    marshalled = Header(1, body_size, properties).marshal()
    return marshalled[7:-1]  # frame head and frame-end octet off


def _pika_decoded(payload: bytes) -> pika.BasicProperties:
    props = pika.BasicProperties()
    props.decode(payload[12:])  # after class id, weight and body size
    return props


def test_table_decodes_as_pika_decodes() -> None:
    pieces: list[bytes] = []
    pika_data.encode_table(pieces, HEADERS)
    raw = b"".join(pieces)
    ours, end = decode_table(raw, 0)
    theirs, their_end = pika_data.decode_table(raw, 0)
    assert end == their_end == len(raw)
    assert ours == theirs
    assert ours["blob"] == b"\xff\x00raw" and ours["x-death"][0]["time"] == WHEN


def test_content_header_properties_and_headers() -> None:
    props = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        priority=3,
        correlation_id="c-1",
        message_id="m-1",
        timestamp=1_700_000_000,
        type="order",
        app_id="shop",
        headers=HEADERS,
    )
    content = Content(_encoded(props, 4321))
    assert content.body_size == 4321
    assert content.properties == {
        "content_type": "application/json",
        "delivery_mode": 2,
        "priority": 3,
        "correlation_id": "c-1",
        "message_id": "m-1",
        "timestamp": 1_700_000_000,
        "type": "order",
        "app_id": "shop",
    }
    assert content.headers == pika_data.decode_table(_table(HEADERS), 0)[0]


def _table(table: dict[str, Any]) -> bytes:
    pieces: list[bytes] = []
    pika_data.encode_table(pieces, table)
    return b"".join(pieces)


@pytest.mark.parametrize(
    "props",
    [
        pika.BasicProperties(message_id="m-1", delivery_mode=1, headers=HEADERS, app_id="a"),
        pika.BasicProperties(content_type="text/plain"),  # no headers, no id, no mode
    ],
)
def test_republished_header_changes_only_id_and_redrives(props: pika.BasicProperties) -> None:
    content = Content(_encoded(props, 99))
    again = _pika_decoded(content.republished("sha256:abc", "x-opsdeck-redrives", 2))
    for name in ("content_type", "priority", "correlation_id", "timestamp", "app_id", "type"):
        assert getattr(again, name) == getattr(props, name), name
    assert again.message_id == "sha256:abc"
    assert again.delivery_mode == (props.delivery_mode or 2)  # persistent unless it said
    want = dict(pika_data.decode_table(_table(props.headers or {}), 0)[0])
    want["x-opsdeck-redrives"] = 2
    assert again.headers == want
    assert list(again.headers).count("x-opsdeck-redrives") == 1
    assert Content(content.republished("x", "x-opsdeck-redrives", 2)).body_size == 99


def test_bad_input_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="unknown field type 'Z'"):
        decode_table(b"\x00\x00\x00\x03\x01kZ", 0)
    with pytest.raises(ProtocolError, match="longer than 255"):
        shortstr("q" * 256)
