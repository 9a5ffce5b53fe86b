"""open_session: context choice, engines built without connecting, lazy journal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console import registry
from console.errors import ConfigError
from console.session import open_session

from .stub_engine import StubEngine


@pytest.fixture(autouse=True)
def _stub() -> Iterator[None]:
    registry.register("stub", StubEngine)
    yield
    registry.unregister("stub")


def write(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "current-context: a\npii-fields: [email]\ncontexts:\n"
        "  a:\n    engines:\n      - {kind: stub, address: x:1}\n"
        "  b:\n    read-only: true\n    engines:\n      - {name: s2, kind: stub, address: x:1}\n"
    )
    return path


async def test_open_session(tmp_path: Path) -> None:
    session = open_session(config_path=write(tmp_path))
    assert session.context.name == "a"
    assert list(session.engines) == ["stub"]
    assert not session.read_only and session.changes_allowed
    assert not (tmp_path / "data" / "opsdeck" / "audit.db").exists()
    assert session.runner.audit is session.audit
    assert session.audit.pii_fields == ("email",)
    await session.close()
    engine = session.engines["stub"]
    assert isinstance(engine, StubEngine) and engine.closed


def test_read_only_from_context_or_flag(tmp_path: Path) -> None:
    path = write(tmp_path)
    assert open_session("b", config_path=path).read_only
    assert open_session("a", read_only=True, config_path=path).read_only
    with pytest.raises(ConfigError, match="known contexts: a, b"):
        open_session("c", config_path=path)
