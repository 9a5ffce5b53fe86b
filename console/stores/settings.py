"""Which store the journals use: the config's ``store:`` section, and opening it.

```yaml
store:
  url: postgresql://opsdeck@db.internal:5432/opsdeck
  password: keyring:opsdeck/store     # a keyring reference, never the password itself
  pool-size: 4                        # connections per journal and process (default 4)
  connect-timeout: 5                  # seconds (default 5)
```

Without a ``store:`` section the journals are SQLite files under $XDG_DATA_HOME/opsdeck,
as before. ``OPSDECK_STORE_URL`` overrides ``store.url`` (scripts, CI); a password
written into a URL is accepted there but redacted everywhere it is shown, and refused
in the config file (it is a plain-text secret).
"""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.errors import ConfigError
from console.stores.port import Database

ENV_URL = "OPSDECK_STORE_URL"
MASK = "***"
_KEYS = {"url", "password", "pool-size", "connect-timeout"}
_SCHEMES = ("postgresql", "postgres")
# The config file the CLI was given (--config); None: OPSDECK_CONFIG or the default.
config_path: Path | None = None

WHAT = {
    "audit": "audit journal",
    "runbooks": "run journal",
    "approvals": "approvals journal",
    "chaos": "chaos run store",
    "drains": "drain journal",
    "incidents": "incident store",
}
SQLITE_FILES = {
    "audit": "audit.db",
    "runbooks": "runbooks.db",
    "approvals": "approvals.db",
    "chaos": "chaos.db",
    "incidents": "incidents.db",
}


def redact_url(url: str) -> str:
    """The URL with any password (user:PASSWORD@ or ?password=) replaced by ***."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "(an unparsable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if sep else f"{user}@{hostport}"
    query = urllib.parse.urlencode(
        [
            (k, MASK if k.lower() == "password" else v)
            for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _url_password(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        return urllib.parse.unquote(parts.password)
    for key, value in urllib.parse.parse_qsl(parts.query):
        if key.lower() == "password":
            return value
    return None


@dataclass(frozen=True)
class StoreSettings:
    url: str
    password_ref: str | None = None
    pool_size: int = 4
    connect_timeout: float = 5.0

    @property
    def redacted_url(self) -> str:
        return redact_url(self.url)

    def password(self) -> str | None:
        """The keyring password, resolved on each call (never kept on the object)."""
        if self.password_ref is None:
            return None
        from console.secrets import resolve_secret

        return resolve_secret(self.password_ref)

    def redact(self, text: str) -> str:
        """``text`` (a server or driver message) with every known password masked."""
        secrets = [p for p in (_url_password(self.url),) if p]
        if self.password_ref is not None:
            with contextlib.suppress(ConfigError):
                secrets.append(self.password() or "")
        for secret in secrets:
            if secret:
                text = text.replace(secret, MASK)
        return text.replace(self.url, self.redacted_url)


def validate(data: Mapping[str, Any]) -> dict[str, Any]:
    """The ``store:`` section checked, defaults filled in (console.config calls this)."""
    section = data
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise ConfigError(
            f"store.{unknown[0]}: unknown key (expected one of: {', '.join(sorted(_KEYS))})"
        )
    url = section.get("url")
    if not isinstance(url, str) or not url:
        raise ConfigError("store.url: required, e.g. postgresql://opsdeck@db:5432/opsdeck")
    check_url(url, "store.url")
    if _url_password(url):
        raise ConfigError(
            "store.url: secrets must not be stored in plain text; drop the password from "
            "the URL, store it with `opsdeck secret set NAME` and write "
            "`password: keyring:opsdeck/NAME`"
        )
    password = section.get("password")
    if password is not None and not (isinstance(password, str) and password):
        raise ConfigError("store.password: expected a keyring reference (keyring:SERVICE/NAME)")
    out: dict[str, Any] = {"url": url, "password": password}
    for key, default in (("pool-size", 4), ("connect-timeout", 5)):
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"store.{key}: expected a positive number, got {value!r}")
        out[key] = value
    return out


def check_url(url: str, field: str) -> None:
    scheme = url.partition("://")[0].lower()
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"{field}: {redact_url(url)!r} is not a PostgreSQL URL "
            "(postgresql://USER@HOST:PORT/DATABASE); without a store section the journals "
            "are SQLite files"
        )


def settings_from(section: Mapping[str, Any]) -> StoreSettings:
    return StoreSettings(
        url=section["url"],
        password_ref=section.get("password"),
        pool_size=int(section.get("pool-size", 4)),
        connect_timeout=float(section.get("connect-timeout", 5)),
    )


def current_settings(config_file: Path | None = None) -> StoreSettings | None:
    """The team store to use, or None for the embedded SQLite files."""
    from console.config import load_config

    config = load_config(config_file or config_path)
    section = dict(getattr(config, "store", {}) or {})
    env_url = os.environ.get(ENV_URL)
    if env_url:
        check_url(env_url, ENV_URL)
        section = {**section, "url": env_url} if section else {"url": env_url}
    return settings_from(section) if section.get("url") else None


def sqlite_path(journal: str) -> Path:
    from console.sqlite_journal import data_dir

    return data_dir() / SQLITE_FILES[journal]


def open_store(
    journal: str, path: Path | None = None, *, settings: StoreSettings | None = None
) -> Database:
    """The journal's Database, schema checked: SQLite at ``path`` when one is given (tests,
    callers that chose a file), else the configured team store, else the default file.

    SQLite migrates itself here; PostgreSQL refuses a schema older than this opsdeck
    (``opsdeck store migrate`` upgrades it, once, for everyone).
    """
    from console.stores.migrations import check, migrate

    what = WHAT[journal]
    if path is None:
        settings = settings or current_settings()
    if path is not None or settings is None:
        from console.stores.sqlite import SqliteDatabase

        lite = SqliteDatabase(path or sqlite_path(journal), journal, what)
        migrate(lite)
        return lite
    from console.stores.postgres import PostgresDatabase

    pg = PostgresDatabase(settings, journal, what)
    check(pg)
    return pg
