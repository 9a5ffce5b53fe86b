"""The config's top-level ``oidc:`` section, validated (docs/identity.md).

oidc:
  issuer: https://login.example.com/realms/ops   # its /.well-known/openid-configuration
  client-id: opsdeck                             # public client, device-code grant
  audience: opsdeck                              # default: client-id
  groups-claim: groups                           # claim holding groups/roles
  user-claim: preferred_username                 # falls back to email, then sub
  scopes: openid profile email                   # asked for at login
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from console.errors import ConfigError

KEYS = ("issuer", "client-id", "audience", "groups-claim", "user-claim", "scopes")
REQUIRED = ("issuer", "client-id")


def validate(data: Mapping[str, Any]) -> dict[str, Any]:
    """The section with defaults filled in; ConfigError naming the field otherwise."""
    for key in data:
        if key not in KEYS:
            raise ConfigError(f"oidc.{key}: unknown key (expected one of: {', '.join(KEYS)})")
    for key in REQUIRED:
        if key not in data:
            raise ConfigError(f"oidc.{key}: required")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"oidc.{key}: expected a non-empty string, got {value!r}")
        out[key] = value.strip()
    if not re.match(r"^https?://", out["issuer"]):
        raise ConfigError(f"oidc.issuer: expected an http(s) URL, got {out['issuer']!r}")
    out.setdefault("audience", out["client-id"])
    out.setdefault("groups-claim", "groups")
    out.setdefault("user-claim", "preferred_username")
    out.setdefault("scopes", "openid profile email")
    return out
