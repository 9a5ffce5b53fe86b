"""Session fixtures: a real Temporal dev server for integration and TUI tests.

In CI (CI=true) a missing server binary is a failure, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.sandbox.devserver import DevServer, start_dev_server, stop_process

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    state = tmp_path_factory.mktemp("temporal")
    server = start_dev_server(state, search_attributes={"CustomerId": "Keyword"})
    try:
        yield server
    finally:
        stop_process(server.pid)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real user's config, data or keyring."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("OPSDECK_CONFIG", raising=False)
