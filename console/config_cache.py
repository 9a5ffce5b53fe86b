"""The parse cache: a validated Config kept as JSON between CLI runs.

Importing PyYAML and validating costs ~25 ms, a tenth of a CLI run; the validated
config is cached beside the adapter cache, keyed by the file's exact text, so any edit
(even within the same second) re-parses.

The JSON is written and read generically from the dataclasses' fields and type hints,
and the cache key includes a fingerprint of every field of every type reachable from
Config: a new section (a field) or a changed type misses the cache instead of returning
a Config without it. Reading requires exactly the fields the types have now. Bump
``_CACHE_SCHEMA`` when validation changes without a field changing.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from console.config_model import Config

_CACHE_SCHEMA = 5


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _dataclasses_below(tp: Any, seen: dict[str, type]) -> None:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if tp.__qualname__ in seen:
            return
        seen[tp.__qualname__] = tp
        for hint in _hints(tp).values():
            _dataclasses_below(hint, seen)
    for arg in typing.get_args(tp):
        _dataclasses_below(arg, seen)


@functools.cache
def schema_key() -> str:
    """The manual schema number and a checksum of every cached type's fields."""
    import zlib

    seen: dict[str, type] = {}
    _dataclasses_below(Config, seen)
    shape = ";".join(
        f"{name}:{','.join(f'{k}={v}' for k, v in sorted(_hints(cls).items()))}"
        for name, cls in sorted(seen.items())
    )
    return f"{_CACHE_SCHEMA}-{zlib.crc32(shape.encode('utf-8')):08x}"


def _cache_file(path: Path) -> Path:
    import zlib

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = zlib.crc32(str(path.resolve()).encode("utf-8"))
    return Path(base) / "opsdeck" / f"config-{key:08x}.json"


def encode(value: Any) -> Any:
    """A dataclass tree as plain JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [encode(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def decode(tp: Any, data: Any) -> Any:
    """``encode``'s inverse, driven by the type hints; TypeError/KeyError on any mismatch."""
    if tp is Any:
        return data
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = _hints(tp)
        if not isinstance(data, dict) or set(data) != set(hints):
            raise KeyError(f"{tp.__qualname__}: cached fields differ")
        return tp(**{name: decode(hint, data[name]) for name, hint in hints.items()})
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return decode(arg, data)
            except (TypeError, KeyError):
                continue
        raise TypeError(f"{data!r} is none of {args}")
    if origin is tuple:
        if not isinstance(data, list):
            raise TypeError("expected a list")
        return tuple(decode(args[0], item) for item in data)
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(data, dict):
            raise TypeError("expected a mapping")
        item_type = args[1] if args else Any
        return {key: decode(item_type, item) for key, item in data.items()}
    if tp is Path:
        return Path(data)
    if tp is float and isinstance(data, int | float) and not isinstance(data, bool):
        return float(data)
    if isinstance(tp, type) and not isinstance(data, tp):
        raise TypeError(f"expected {tp.__name__}, got {data!r}")
    if tp is int and isinstance(data, bool):
        raise TypeError("expected int, got a bool")
    return data


def cache_get(path: Path, text: str) -> Config | None:
    import json

    try:
        with open(_cache_file(path), encoding="utf-8") as fp:
            data = json.load(fp)
        if data.get("schema") != schema_key() or data["text"] != text:
            return None
        if data["path"] != str(path.resolve()):
            return None
        config: Config = decode(Config, data["config"])
        return dataclasses.replace(config, path=path)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cache_put(path: Path, text: str, config: Config) -> None:
    import json

    data = {
        "schema": schema_key(),
        "path": str(path.resolve()),
        "text": text,
        "config": encode(config),
    }
    target = _cache_file(path)
    try:
        encoded = json.dumps(data, allow_nan=False)
        if json.loads(encoded) != data:  # YAML-only types (dates...) do not round-trip
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_text(encoded, encoding="utf-8")
        os.replace(tmp, target)
    except (OSError, TypeError, ValueError):
        pass  # the cache is an optimisation only
