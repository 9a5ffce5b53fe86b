"""The config's top-level ``policy:`` section, validated (docs/policy.md).

policy:
  file: policy.rego          # default: the shipped console/policy/default.rego
  server: http://127.0.0.1:8181   # optional: ask an OPA server instead (POST /v1/data/...)
  decision: opsdeck/decision # the rule that returns the decision object
  approval-expiry: 24h       # how long an approval stays valid
  timeout: 2                 # seconds, OPA server only
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from console.errors import ConfigError

KEYS = ("file", "server", "decision", "approval-expiry", "timeout")
DEFAULT_DECISION = "opsdeck/decision"
DEFAULT_EXPIRY = "24h"
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int:
    """'90s', '30m', '24h', '7d' as seconds; ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"expected a duration like 30m, 24h or 7d, got {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def validate(data: Mapping[str, Any]) -> dict[str, Any]:
    """The section with defaults filled in; ConfigError naming the field otherwise."""
    out: dict[str, Any] = {"decision": DEFAULT_DECISION, "approval-expiry": DEFAULT_EXPIRY}
    for key, value in data.items():
        if key not in KEYS:
            raise ConfigError(f"policy.{key}: unknown key (expected one of: {', '.join(KEYS)})")
        if key == "timeout":
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"policy.timeout: expected seconds > 0, got {value!r}")
            out[key] = float(value)
            continue
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"policy.{key}: expected a non-empty string, got {value!r}")
        value = value.strip()
        if key == "server" and not re.match(r"^https?://", value):
            raise ConfigError(f"policy.server: expected an http(s) URL, got {value!r}")
        if key == "decision" and not re.match(r"^[A-Za-z_][\w]*(/[A-Za-z_][\w]*)*$", value):
            raise ConfigError(
                f"policy.decision: expected a rule path like opsdeck/decision, got {value!r}"
            )
        if key == "approval-expiry":
            try:
                duration_seconds(value)
            except ValueError as exc:
                raise ConfigError(f"policy.approval-expiry: {exc}") from None
        out[key] = value
    return out
