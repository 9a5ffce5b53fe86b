"""Failure messages with their variable parts replaced, so one bug gives one signature.

"order x-41 rejected: card declined" and "order x-42 rejected: card declined" are the
same failure. Replaced, in this order (earlier rules see the text first):

- the execution's own ids (workflow id, run id, activity id) -> ``<id>``: ids without
  digits ("order demo-failed") are only recognisable that way;
- ISO-8601 timestamps and dates -> ``<time>``; UUIDs -> ``<uuid>``; e-mail addresses ->
  ``<email>`` (PII never reaches a signature); IPv4 addresses (with port) -> ``<ip>``;
- quoted strings that contain a digit ('order-42', "7f3a...") -> ``<id>``; quoted words
  without digits ('customer_id' in a KeyError) are kept: they name the bug;
- 0x-hex and hex runs of 8+ characters with a digit -> ``<hex>``; tokens of 8+ letters
  and digits mixed (Stripe-like ``ch_3MtwBw...``) -> ``<id>``;
- every other number -> ``<n>``, except an HTTP status after "HTTP" or "status"
  (503 and 404 are different failures).

Whitespace is collapsed and the result clipped to MAX_LENGTH characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_LENGTH = 200

_TIMESTAMP = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
)
_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b")
_QUOTED = re.compile(r"'[^'\n]*\d[^'\n]*'|\"[^\"\n]*\d[^\"\n]*\"")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b")
_MIXED = re.compile(r"\b(?=\w*\d)(?=\w*[A-Za-z])\w{8,}\b")
_STATUS = re.compile(r"\b((?:HTTP|[Ss]tatus(?: code)?)[ :/=]*)(\d{3})\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SPACE = re.compile(r"\s+")


def normalise(message: str, known_ids: Iterable[str | None] = ()) -> str:
    """``message`` with ids, numbers, hex, quoted ids and timestamps stripped."""
    text = message
    for known in sorted({k for k in known_ids if k and len(k) >= 3}, key=len, reverse=True):
        text = text.replace(known, "<id>")
    text = _TIMESTAMP.sub("<time>", text)
    text = _UUID.sub("<uuid>", text)
    text = _EMAIL.sub("<email>", text)
    text = _IP.sub("<ip>", text)
    text = _QUOTED.sub("<id>", text)
    text = _HEX.sub("<hex>", text)
    text = _MIXED.sub("<id>", text)
    text = _numbers(text)
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= MAX_LENGTH else text[: MAX_LENGTH - 1] + "…"


def mask_pii(text: str) -> str:
    """A raw message fit to show: e-mail addresses masked (the signature's rule)."""
    return _EMAIL.sub("<email>", text)


def _numbers(text: str) -> str:
    """Numbers -> <n>, leaving the digits of each HTTP status as they are."""
    parts: list[str] = []
    done = 0
    for match in _STATUS.finditer(text):
        parts += [_NUMBER.sub("<n>", text[done : match.start(2)]), match.group(2)]
        done = match.end(2)
    parts.append(_NUMBER.sub("<n>", text[done:]))
    return "".join(parts)
