"""PII in free text: notes, log lines and messages have no keys to mask by.

console.audit.mask hides values under PII keys in structured data; here a value
written next to a PII field name (``email=a@b.c``, ``email: a@b.c``,
``"email": "a@b.c"``) is masked too. A name typed alone in a sentence cannot be
recognised: docs/incidents.md says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from console.audit import MASK


def mask_text(text: str, pii_fields: Iterable[str]) -> str:
    for name in pii_fields:
        key = re.escape(name)
        text = re.sub(rf'("{key}"\s*:\s*)"[^"]*"', rf'\1"{MASK}"', text, flags=re.I)
        text = re.sub(rf"(\b{key}\s*[=:]\s*)[^\s,;&\"')}}\]]+", rf"\1{MASK}", text, flags=re.I)
    return text
