"""``store_backend``: each test on SQLite and on a fresh PostgreSQL database.

PostgreSQL is the server of this machine (127.0.0.1:5432, trust auth, user postgres;
``OPSDECK_TEST_POSTGRES`` names another admin URL). Each test gets its own database,
``opsdeck_test_<random>``, migrated, and dropped afterwards. In CI (CI=true) an
unreachable server fails the test; elsewhere it skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.stores.port import Database
from console.stores.settings import ENV_URL, StoreSettings, open_store

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN_URL = os.environ.get("OPSDECK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def admin_connection() -> Any:
    import psycopg

    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        message = f"PostgreSQL at {ADMIN_URL} is unreachable: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def database_url(name: str) -> str:
    return f"{ADMIN_URL.rpartition('/')[0]}/{name}"


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty (unmigrated) PostgreSQL database, dropped afterwards."""
    from console.stores.postgres import close_pools

    name = f"opsdeck_test_{uuid.uuid4().hex[:12]}"
    admin = admin_connection()
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield database_url(name)
    finally:
        close_pools()
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@dataclass
class Backend:
    """One back end for a test: ``open(journal)`` gives that journal's Database; journals
    made without a path or store (and subprocesses, through the environment) use it."""

    name: str
    data_dir: Path
    settings: StoreSettings | None = None

    @property
    def url(self) -> str | None:
        return self.settings.url if self.settings else None

    def open(self, journal: str) -> Database:
        if self.settings is None:
            return open_store(journal)
        return open_store(journal, settings=self.settings)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.url:
            env[ENV_URL] = self.url
        else:
            env.pop(ENV_URL, None)
        return env


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store_backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    data_dir = tmp_path / "data" / "opsdeck"  # what _isolated_user_dirs makes XDG_DATA_HOME
    if request.param == "sqlite":
        monkeypatch.delenv(ENV_URL, raising=False)
        yield Backend("sqlite", data_dir)
        return
    url = request.getfixturevalue("fresh_database")
    from console.cli_store import migrate_all

    settings = StoreSettings(url)
    migrate_all(settings)
    monkeypatch.setenv(ENV_URL, url)
    yield Backend("postgresql", data_dir, settings)
