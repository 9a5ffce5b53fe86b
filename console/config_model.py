"""The parsed config's types: contexts, their engine entries, and the whole file.

Frozen dataclasses, no I/O but ``default_config_path``; console.config_parse builds
them, console.config_cache stores them between runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.config_slo import SloSpec
from console.errors import ConfigError

SECRET_REF_PREFIX = "keyring:"
_SECRET_KEY = re.compile(
    r"(^|[-_])(api[-_]?key|password|passwd|token|client[-_]key|private[-_]key|secret)([-_]|$)",
    re.IGNORECASE,
)


def looks_secret(key: str) -> bool:
    """Whether a settings key names a secret (api-key, password, token, client-key...)."""
    return bool(_SECRET_KEY.search(key))


@dataclass(frozen=True)
class EngineEntry:
    """One engine of a context; ``settings`` is the mapping as written (plain dict)."""

    name: str
    kind: str
    settings: dict[str, Any]
    location: str  # file:line of the entry
    field_locations: Mapping[str, str] = field(default_factory=dict)
    path: str = ""  # field path, e.g. contexts.prod.engines[0]


@dataclass(frozen=True)
class Context:
    name: str
    engines: tuple[EngineEntry, ...]
    production: bool = False
    read_only: bool = False
    location: str = ""
    # A local sandbox (`opsdeck sandbox up`): may use local brokers' default logins.
    sandbox: bool = False
    # Keys this version does not interpret (backends for later adapters), kept as written.
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Telemetry sources (console.correlate): same entry shape as engines, kind from the
    # ``opsdeck.sources`` entry-point group.
    sources: tuple[EngineEntry, ...] = ()
    # Dead-letter queue backends (console.actions.drain): same entry shape, kind from the
    # ``opsdeck.queues`` entry-point group.
    queues: tuple[EngineEntry, ...] = ()
    # Service-level objectives (console.config_slo parses, console.slo evaluates).
    slos: tuple[SloSpec, ...] = ()

    def engine(self, name: str) -> EngineEntry:
        for entry in self.engines:
            if entry.name == name:
                return entry
        known = ", ".join(e.name for e in self.engines) or "none"
        raise ConfigError(f"context {self.name!r} has no engine {name!r} (engines: {known})")


@dataclass(frozen=True)
class Config:
    path: Path
    contexts: Mapping[str, Context]
    current_context: str | None = None
    identity: str | None = None
    pii_fields: tuple[str, ...] = ()
    exists: bool = True
    # Top-level ``telemetry:`` (console.telemetry): {"export": ..., "endpoint": ...}.
    telemetry: Mapping[str, str] = field(default_factory=dict)
    # Top-level ``policy:`` (console.policy.settings) and ``oidc:`` (console.identity.settings),
    # validated with defaults filled in; empty when absent.
    policy: Mapping[str, Any] = field(default_factory=dict)
    oidc: Mapping[str, Any] = field(default_factory=dict)
    # Top-level ``store:`` (console.stores.settings): the team PostgreSQL store; empty: SQLite.
    store: Mapping[str, Any] = field(default_factory=dict)

    def context(self, name: str | None = None) -> Context:
        """The named context, else the current one; unknown names list the known ones."""
        chosen = name or self.current_context
        if chosen is None:
            if len(self.contexts) == 1:
                return next(iter(self.contexts.values()))
            if not self.contexts:
                raise ConfigError(
                    f"no contexts configured in {self.path}",
                    hint="run `opsdeck sandbox up` or see docs/config.md",
                )
            raise ConfigError(
                f"no current context; known contexts: {', '.join(sorted(self.contexts))}",
                hint="pass --context NAME or run `opsdeck context use NAME`",
            )
        try:
            return self.contexts[chosen]
        except KeyError:
            known = ", ".join(sorted(self.contexts)) or "none"
            raise ConfigError(
                f"unknown context {chosen!r}; known contexts: {known}",
                hint=f"see {self.path}",
            ) from None


def default_config_path() -> Path:
    override = os.environ.get("OPSDECK_CONFIG")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "opsdeck" / "config.yaml"
