"""Adapter discovery: entry points, cached; unknown kinds list the available ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from console import registry
from console.config import load_config
from console.errors import ConfigError


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    registry._kinds = None


def test_entry_points_are_discovered_and_cached(tmp_path: Path) -> None:
    assert "temporal" in registry.available_kinds()
    cache = tmp_path / "cache" / "opsdeck" / "adapters.json"
    assert cache.exists()
    registry._kinds = None
    assert registry._discover()["temporal"] == "adapters.temporal:TemporalEngine"


def test_unknown_kind_lists_available(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("contexts:\n  a:\n    engines:\n      - kind: nosuch\n")
    entry = load_config(path).context("a").engines[0]
    with pytest.raises(ConfigError) as info:
        registry.build_engine(entry, lambda ref: ref)
    message = str(info.value)
    assert message.startswith(f"{path}:4: contexts.a.engines[0].kind: unknown engine kind")
    assert "available kinds:" in message and "temporal" in message


class Picky:
    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        self.name, self.settings = name, settings

    @classmethod
    def from_config(cls, name: str, settings: dict[str, Any], resolve_secret: Any) -> Picky:
        if "address" not in settings:
            raise ConfigError("engines[0].address: required")
        if settings["address"] == "bad":
            raise ConfigError("address: expected HOST:PORT")
        return cls(name, settings)


def test_adapter_errors_get_file_line(tmp_path: Path) -> None:
    registry.register("picky", Picky)
    try:
        path = tmp_path / "c.yaml"
        path.write_text("contexts:\n  a:\n    engines:\n      - kind: picky\n        n: 1\n")
        context = load_config(path).context("a")
        with pytest.raises(ConfigError) as info:
            registry.build_engines(context, lambda ref: ref)
        assert str(info.value) == f"{path}:4: contexts.a.engines[0].address: required"
        path.write_text(
            "contexts:\n  a:\n    engines:\n      - kind: picky\n        address: bad\n"
        )
        with pytest.raises(ConfigError) as info:
            registry.build_engines(load_config(path).context("a"), lambda ref: ref)
        assert str(info.value) == f"{path}:5: contexts.a.engines[0].address: expected HOST:PORT"
        path.write_text("contexts:\n  a:\n    engines:\n      - {kind: picky, address: x}\n")
        engines = registry.build_engines(load_config(path).context("a"), lambda ref: ref)
        assert isinstance(engines["picky"], Picky)
    finally:
        registry.unregister("picky")
