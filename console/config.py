"""Contexts (named environments, like kubectl contexts) from a YAML file.

The file is ``$XDG_CONFIG_HOME/opsdeck/config.yaml`` (``OPSDECK_CONFIG`` overrides).
Every error names ``file:line`` and the field (``config.yaml:7:
contexts.prod.engines[0].kind: required``); a YAML syntax error names
``file:line:column``. Secrets are never stored in the file, only references
(``keyring:service/name``, see console.secrets); a plain-text value under a key that
looks secret is refused. One exception: a context marked ``sandbox: true`` (``opsdeck
sandbox up`` writes it) may use a broker's well-known local login in plain text, e.g.
RabbitMQ's guest/guest on 127.0.0.1; anywhere else that login is refused too.

This module is the entry point every caller imports; the work is split by concern:
console.config_model (types), console.config_parse (validation, file:line errors),
console.config_cache (the parse cache), console.config_write (editing the file).
"""

from __future__ import annotations

from pathlib import Path

from console.config_cache import cache_get as _cache_get
from console.config_cache import cache_put as _cache_put
from console.config_model import (
    SECRET_REF_PREFIX,
    Config,
    Context,
    EngineEntry,
    default_config_path,
    looks_secret,
)
from console.config_parse import parse_config
from console.config_write import upsert_context, use_context
from console.errors import ConfigError

__all__ = [
    "SECRET_REF_PREFIX",
    "Config",
    "Context",
    "EngineEntry",
    "default_config_path",
    "load_config",
    "looks_secret",
    "parse_config",
    "upsert_context",
    "use_context",
]


def load_config(path: Path | None = None) -> Config:
    """Read and validate the config; a missing file is an empty config."""
    path = path or default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(path=path, contexts={}, exists=False)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    cached = _cache_get(path, text)
    if cached is not None:
        return cached
    config = parse_config(text, path)
    _cache_put(path, text, config)
    return config
