"""Adapter discovery through entry points (group ``opsdeck.adapters``).

Scanning installed distributions costs ~60 ms (importlib.metadata plus reading every
dist-info), more than a quarter of the CLI's start-up budget, so the kind -> "module:attr"
map is cached on disk, keyed by the modification times of the sys.path directories
(installing or removing a distribution changes its directory). Building engines imports
the adapter class and calls ``from_config``, which must not connect.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from console.errors import ConfigError

if TYPE_CHECKING:
    from console.config import Context, EngineEntry
    from console.ports import SecretResolver, WorkflowEngine

GROUP = "opsdeck.adapters"
_kinds: dict[str, str] | None = None
_registered: dict[str, Callable[..., Any]] = {}


def register(kind: str, factory: Callable[..., Any]) -> None:
    """Add an adapter in-process (tests, embedding); wins over entry points."""
    _registered[kind] = factory


def unregister(kind: str) -> None:
    _registered.pop(kind, None)


def _cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "opsdeck", "adapters.json")


def _fingerprint() -> list[Any]:
    stamps: list[Any] = [sys.version, sys.prefix]
    for entry in sys.path:
        try:
            stamps.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            stamps.append([entry, None])
    return stamps


def _scan() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def _discover() -> dict[str, str]:
    global _kinds
    if _kinds is not None:
        return _kinds
    path, stamp = _cache_path(), _fingerprint()
    try:
        with open(path, encoding="utf-8") as fp:
            cached = json.load(fp)
        if cached.get("fingerprint") == stamp:
            _kinds = dict(cached["kinds"])
            return _kinds
    except (OSError, ValueError, KeyError, TypeError):
        pass
    _kinds = _scan()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fp:
            json.dump({"fingerprint": stamp, "kinds": _kinds}, fp)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the scan next time
    return _kinds


def clear_cache() -> None:
    global _kinds
    _kinds = None
    with contextlib.suppress(OSError):
        os.unlink(_cache_path())


def available_kinds() -> list[str]:
    return sorted(set(_discover()) | set(_registered))


def engine_class(kind: str) -> Callable[..., Any]:
    """The adapter class for a kind; unknown kinds list the available ones."""
    if kind in _registered:
        return _registered[kind]
    target = _discover().get(kind)
    if target is None:
        raise ConfigError(
            f"unknown engine kind {kind!r}; available kinds: {', '.join(available_kinds())}"
        )
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        # A stale cache (adapter moved) gets one fresh scan before we give up.
        clear_cache()
        if _discover().get(kind) not in (None, target):
            return engine_class(kind)
        raise ConfigError(f"adapter {kind!r} ({target}) cannot be loaded: {exc}") from None
    return obj  # type: ignore[no-any-return]


def build_engine(entry: EngineEntry, resolve_secret: SecretResolver) -> WorkflowEngine:
    """Construct one engine (no connection); adapter errors get the entry's file:line."""
    try:
        cls = engine_class(entry.kind)
    except ConfigError as exc:
        where = entry.field_locations.get("kind", entry.location)
        raise ConfigError(f"{entry.path}.kind: {exc.message}", location=where) from None
    try:
        engine: WorkflowEngine = cls.from_config(entry.name, dict(entry.settings), resolve_secret)  # type: ignore[attr-defined]
    except ConfigError as exc:
        if exc.location:  # already located (e.g. a secret lookup failure)
            raise
        field, message = _split_field(exc.message)
        if field is None:
            raise ConfigError(
                f"{entry.path}: {exc.message}", location=entry.location, hint=exc.hint
            ) from None
        where = entry.field_locations.get(field.split(".")[0].split("[")[0], entry.location)
        raise ConfigError(
            f"{entry.path}.{field}: {message}", location=where, hint=exc.hint
        ) from None
    return engine


def _split_field(message: str) -> tuple[str | None, str]:
    """ "engines[0].tls.server-name: required" -> ("tls.server-name", "required")."""
    head, sep, rest = message.partition(": ")
    if not sep or " " in head:
        return None, message
    if head.startswith("engines["):
        _, _, head = head.partition("].")
    return (head or None), rest


def build_engines(context: Context, resolve_secret: SecretResolver) -> dict[str, WorkflowEngine]:
    return {entry.name: build_engine(entry, resolve_secret) for entry in context.engines}
