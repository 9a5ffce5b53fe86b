"""The config parse cache: a hit equals a fresh parse, and a cached Config written for
other types (an older schema, a field fewer) is never returned."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import console.config as config_module
from console import config_cache
from console.config import Config, load_config, parse_config

TEXT = """\
current-context: a
identity: alice@example.com
pii-fields: [email]
telemetry: {export: none}
contexts:
  a:
    production: true
    sandbox: true
    description: team A
    engines:
      - kind: temporal
        address: 127.0.0.1:7233
        namespace: default
    sources:
      - kind: prometheus
        url: http://127.0.0.1:9090
    queues:
      - kind: rabbitmq
        name: rabbit
        url: amqp://127.0.0.1:5672/
"""


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _no_parse(text: str, path: Path) -> Config:
    raise AssertionError("parsed again")


def test_a_cache_hit_equals_a_fresh_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(TEXT)
    fresh = load_config(path)
    assert fresh == parse_config(TEXT, path)
    monkeypatch.setattr(config_module, "parse_config", _no_parse)
    cached = load_config(path)
    assert cached == fresh
    assert cached.context("a").queues[0].settings["url"] == "amqp://127.0.0.1:5672/"
    assert isinstance(cached.context("a").engines, tuple)


def test_a_cache_of_another_shape_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(TEXT)
    load_config(path)
    (cache_file,) = (tmp_path / "cache" / "opsdeck").glob("config-*.json")
    data = json.loads(cache_file.read_text())
    # The same schema key but a section missing (as a cache written before it existed).
    del data["config"]["contexts"]["a"]["queues"]
    cache_file.write_text(json.dumps(data))
    assert config_cache.cache_get(path, TEXT) is None
    # Any other schema key: a miss, whatever the content.
    data = json.loads(cache_file.read_text())
    data["schema"] = "4"
    cache_file.write_text(json.dumps(data))
    assert config_cache.cache_get(path, TEXT) is None


def test_the_schema_key_follows_the_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    before = config_cache.schema_key()

    @dataclass(frozen=True)
    class Grown(Config):
        slos: tuple[str, ...] = field(default=())

    config_cache.schema_key.cache_clear()
    monkeypatch.setattr(config_cache, "Config", Grown)
    try:
        assert config_cache.schema_key() != before
    finally:
        config_cache.schema_key.cache_clear()
