"""The journals' own unit tests, run again with every journal in PostgreSQL.

Those tests open their journals on SQLite paths under tmp_path; here ``open_store``
sends each of those opens to the fresh PostgreSQL database of the test instead (one
schema per journal, so two paths of one journal share it, as one team store would).
Tests that read or tamper with the SQLite file itself are left out: their PostgreSQL
counterparts are in test_journals.py.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import console.stores.settings as store_settings
from console.stores.port import Database
from tests.unit import (
    test_approvals_store,
    test_audit,
    test_chaos_store,
    test_drain,
    test_runbook_runner,
)

pytestmark = pytest.mark.integration

# Tests about the SQLite file itself (its path, bytes, triggers, direct tampering).
_FILE_ONLY = {
    "test_default_path_honours_xdg",
    "test_altered_record_is_named",
    "test_deleted_record_is_found",
    "test_rehashed_record_still_breaks_the_chain",
    "test_append_only",
    "test_pii_masked_at_any_depth",
    "test_not_created_until_used",
    "test_the_store_lives_under_xdg_data_home",
    # Copies the journal files to stand for a SIGKILL's leftovers; PostgreSQL has no files
    # (tests/stores/test_concurrency.py kills a real writer on both back ends).
    "test_atomic_source_killed_before_sent_rows_are_journaled",
}
_MODULES: tuple[ModuleType, ...] = (
    test_audit,
    test_approvals_store,
    test_chaos_store,
    test_drain,
    test_runbook_runner,
)


def _tests(want_async: bool) -> list[Any]:
    found = []
    for module in _MODULES:
        for name, func in vars(module).items():
            if not name.startswith("test_") or name in _FILE_ONLY or not callable(func):
                continue
            if list(inspect.signature(func).parameters) != ["tmp_path"]:
                continue  # parametrized or other fixtures: covered on SQLite only
            if inspect.iscoroutinefunction(func) == want_async:
                found.append(pytest.param(func, id=f"{module.__name__.split('.')[-1]}.{name}"))
    return found


@pytest.fixture
def on_postgres(fresh_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from console.cli_store import migrate_all

    settings = store_settings.StoreSettings(fresh_database)
    migrate_all(settings)
    real = store_settings.open_store

    def routed(journal: str, path: Path | None = None, **_: Any) -> Database:
        return real(journal, settings=settings)

    monkeypatch.setattr(store_settings, "open_store", routed)
    monkeypatch.setenv(store_settings.ENV_URL, fresh_database)
    yield


@pytest.mark.parametrize("test", _tests(want_async=False))
def test_on_postgres(test: Callable[[Path], None], on_postgres: None, tmp_path: Path) -> None:
    test(tmp_path)


@pytest.mark.parametrize("test", _tests(want_async=True))
async def test_async_on_postgres(
    test: Callable[[Path], Any], on_postgres: None, tmp_path: Path
) -> None:
    await test(tmp_path)
