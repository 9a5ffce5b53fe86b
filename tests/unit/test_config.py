"""Config loading: every error names file:line (and column for YAML syntax) and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.config import load_config, looks_secret, upsert_context, use_context
from console.errors import ConfigError

GOOD = """\
# team config
current-context: staging   # where we start
identity: alice@example.com
pii-fields: [email, card_number]
contexts:
  staging:
    engines:
      - kind: temporal
        address: 127.0.0.1:7233
        namespace: default
  prod:
    production: true
    read-only: false
    engines:
      - name: cloud
        kind: temporal
        address: prod.tmprl.cloud:7233
        api-key: keyring:opsdeck/temporal-cloud
        tls: {client-key: "keyring:opsdeck/key", server-name: x}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.exit_code == 2
    return str(info.value)


def test_good_config_loads(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    config = load_config(path)
    assert config.current_context == "staging"
    assert config.identity == "alice@example.com"
    assert config.pii_fields == ("email", "card_number")
    prod = config.context("prod")
    assert prod.production and not prod.read_only
    (cloud,) = prod.engines
    assert (cloud.name, cloud.kind) == ("cloud", "temporal")
    assert cloud.settings["api-key"] == "keyring:opsdeck/temporal-cloud"
    assert cloud.location == f"{path}:15"
    assert config.context().name == "staging"
    assert config.context("staging").engines[0].name == "temporal"  # name defaults to kind


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "contexts:\n  a:\n    engines: [\n  b: 1\n")
    message = error_of(path)
    assert message.startswith(f"{path}:5:1: YAML syntax error: did not find expected")
    assert "(while parsing a flow sequence at line 3, column 14)" in message
    path = write(tmp_path, "contexts:\n  a: b: c\n")
    assert error_of(path).startswith(f"{path}:2:7: YAML syntax error: mapping values")


def test_missing_kind_names_file_line_and_field(tmp_path: Path) -> None:
    text = "contexts:\n  prod:\n    engines:\n      - address: x:1\n        namespace: n\n"
    path = write(tmp_path, text)
    assert error_of(path) == f"{path}:4: contexts.prod.engines[0].kind: required"


def test_wrong_types_name_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, "contexts:\n  prod:\n    production: maybe\n    engines: []\n")
    assert error_of(path).startswith(f"{path}:3: contexts.prod.production: expected true or false")
    path = write(tmp_path, "contexts:\n  prod:\n    engines: {kind: temporal}\n")
    assert error_of(path) == f"{path}:3: contexts.prod.engines: expected a list of engines"
    path = write(tmp_path, "contexts:\n  prod:\n    production: true\n")
    assert error_of(path) == f"{path}:2: contexts.prod.engines: required"
    path = write(tmp_path, "contexs: {}\n")
    assert error_of(path).startswith(f"{path}:1: contexs: unknown key")


def test_duplicate_engine_names_and_keys(tmp_path: Path) -> None:
    text = "contexts:\n  a:\n    engines:\n      - kind: temporal\n      - kind: temporal\n"
    path = write(tmp_path, text)
    assert "engines[1].name: duplicate engine name 'temporal'" in error_of(path)
    path = write(tmp_path, "contexts:\n  a:\n    engines: []\n  a:\n    engines: []\n")
    assert error_of(path) == f"{path}:4: contexts.a: duplicate key"


def test_unknown_context_lists_known_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError) as info:
        config.context("qa")
    assert "unknown context 'qa'; known contexts: prod, staging" in str(info.value)


def test_unknown_current_context_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "current-context: qa\ncontexts:\n  a:\n    engines: []\n")
    assert error_of(path) == f"{path}:1: current-context: unknown context 'qa'; known contexts: a"


@pytest.mark.parametrize(
    ("key", "line"),
    [("api-key", "        api-key: abc123"), ("tls", "        tls: {client-key: PEMDATA}")],
)
def test_plaintext_secret_refused(tmp_path: Path, key: str, line: str) -> None:
    text = f"contexts:\n  prod:\n    engines:\n      - kind: temporal\n{line}\n"
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(f"{path}:5: contexts.prod.engines[0].{key}")
    assert "plain text" in message and "opsdeck secret set" in message
    assert "abc123" not in message and "PEMDATA" not in message


def test_secret_key_detection() -> None:
    for key in ("api-key", "apiKey", "api_key", "password", "token", "client-key", "secret"):
        assert looks_secret(key), key
    for key in ("address", "namespace", "server-ca-file", "client-cert", "tokenizer"):
        assert not looks_secret(key), key


def test_missing_file_is_empty_config(tmp_path: Path) -> None:
    config = load_config(tmp_path / "nope.yaml")
    assert not config.exists and not config.contexts
    with pytest.raises(ConfigError, match="no contexts configured"):
        config.context()


def test_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    monkeypatch.setenv("OPSDECK_CONFIG", str(path))
    assert load_config().path == path


def test_use_context_rewrites_only_that_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    config = use_context("prod", path)
    assert config.current_context == "prod"
    before, after = GOOD.splitlines(), path.read_text().splitlines()
    assert after[1] == "current-context: prod   # where we start"
    assert [a for a, b in zip(before, after, strict=True) if a != b] == [before[1]]
    with pytest.raises(ConfigError, match="known contexts: prod, staging"):
        use_context("qa", path)
    assert path.read_text().splitlines() == after


def test_use_context_inserts_key_when_absent(tmp_path: Path) -> None:
    path = write(tmp_path, "# header\ncontexts:\n  a:\n    engines: []\n")
    use_context("a", path)
    assert path.read_text() == "# header\ncurrent-context: a\ncontexts:\n  a:\n    engines: []\n"


def test_upsert_context_keeps_other_lines(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    engines = [{"name": "temporal", "kind": "temporal", "address": "127.0.0.1:1"}]
    upsert_context("sandbox", engines, path=path)
    config = load_config(path)
    assert config.context("sandbox").engines[0].settings["address"] == "127.0.0.1:1"
    assert config.current_context == "staging"  # already had one: unchanged
    engines[0]["address"] = "127.0.0.1:2"
    upsert_context("sandbox", engines, path=path)
    config = load_config(path)
    assert config.context("sandbox").engines[0].settings["address"] == "127.0.0.1:2"
    assert set(config.contexts) == {"staging", "prod", "sandbox"}
    assert path.read_text().startswith(GOOD[: GOOD.index("  prod:")])
    assert "# where we start" in path.read_text()


def test_upsert_context_creates_file_and_makes_current(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.yaml"
    upsert_context("sandbox", [{"kind": "temporal", "address": "a:1"}], path=path)
    config = load_config(path)
    assert config.current_context == "sandbox"
    assert config.context().engines[0].settings["address"] == "a:1"
    assert (path.stat().st_mode & 0o777) == 0o600


def test_parsed_config_is_cached_by_exact_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, GOOD)
    first = load_config(path)
    assert list((tmp_path / "cache" / "opsdeck").glob("config-*.json"))
    import console.config as config_module

    def no_parse(text: str, p: Path) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(config_module, "parse_config", no_parse)
    assert load_config(path) == first
    monkeypatch.undo()
    path.write_text(GOOD.replace("alice@example.com", "bob@example.com"))
    assert load_config(path).identity == "bob@example.com"
    path.write_text(GOOD.replace("current-context: staging", "current-context: nope"))
    with pytest.raises(ConfigError, match="unknown context 'nope'"):
        load_config(path)


def test_use_context_keeps_a_symlinked_config(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "opsdeck.yaml"
    real.parent.mkdir()
    real.write_text(GOOD)
    link = tmp_path / "config.yaml"
    link.symlink_to(real)
    use_context("prod", link)
    assert link.is_symlink()
    assert "current-context: prod" in real.read_text()


@pytest.mark.parametrize(
    ("key", "item", "plural", "one"),
    [
        ("sources", "{kind: prometheus, url: 'http://p:9090'}", "sources", "source"),
        ("queues", "{kind: sqs, region: eu-west-1}", "queue backends", "queue"),
    ],
)
def test_sources_and_queues_are_checked_as_engines_are(
    tmp_path: Path, key: str, item: str, plural: str, one: str
) -> None:
    head = "contexts:\n  a:\n    engines: []\n"
    path = write(tmp_path, f"{head}    {key}: {item}\n")
    assert error_of(path) == f"{path}:4: contexts.a.{key}: expected a list of {plural}"
    path = write(tmp_path, f"{head}    {key}:\n      - {item}\n      - {item}\n")
    kind = item.split(",")[0].removeprefix("{kind: ")
    assert f"{path}:6: contexts.a.{key}[1].name: duplicate {one} '{kind}'" == error_of(path)
