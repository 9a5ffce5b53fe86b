"""Secrets: encrypted file keyring fallback when no OS keyring exists; never plain text."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import secrets
from console.config import load_config
from console.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_os_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Headless like CI: keyring's fail backend, whatever this machine has."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv(secrets.PASSWORD_ENV, "correct horse")
    secrets.reset_backend()
    yield
    secrets.reset_backend()


def test_roundtrip_through_encrypted_file(capsys: pytest.CaptureFixture[str]) -> None:
    ref = secrets.store_secret("temporal-cloud", "s3cret-value-42")
    assert ref == "keyring:opsdeck/temporal-cloud"
    assert "warning: no OS keyring available" in capsys.readouterr().err
    secrets.reset_backend()
    assert secrets.resolve_secret(ref) == "s3cret-value-42"
    path = secrets.file_keyring_path()
    assert path.exists()
    assert b"s3cret-value-42" not in path.read_bytes()
    assert secrets.backend_name().endswith("OpsdeckFileKeyring")


def test_warning_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    secrets.store_secret("x", "y")
    err = capsys.readouterr().err
    assert err.count("\n") == 1


def test_wrong_password_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets.store_secret("a/b", "value")
    secrets.reset_backend()
    monkeypatch.setenv(secrets.PASSWORD_ENV, "wrong")
    with pytest.raises(ConfigError, match="wrong password"):
        secrets.resolve_secret("keyring:a/b")


def test_missing_password_without_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(secrets.PASSWORD_ENV)
    with pytest.raises(ConfigError) as info:
        secrets.store_secret("x", "y")
    assert secrets.PASSWORD_ENV in str(info.value)


def test_unknown_secret_says_how_to_store_it() -> None:
    with pytest.raises(ConfigError, match=r"opsdeck secret set opsdeck/nope"):
        secrets.resolve_secret("keyring:opsdeck/nope")


def test_plaintext_backend_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    secrets.store_secret("p", "plain-value-99")
    assert secrets.backend_name().endswith("OpsdeckFileKeyring")
    for path in Path(secrets.file_keyring_path()).parent.rglob("*"):
        if path.is_file():
            assert b"plain-value-99" not in path.read_bytes()


def test_refs() -> None:
    assert secrets.ref_for("svc/name") == "keyring:svc/name"
    assert secrets.ref_for("keyring:svc/name") == "keyring:svc/name"
    assert secrets.parse_ref("keyring:svc/a/b") == ("svc", "a/b")
    with pytest.raises(ConfigError):
        secrets.parse_ref("keyring:nope")
    with pytest.raises(ConfigError):
        secrets.parse_ref("plain")


def test_value_never_in_config(tmp_path: Path) -> None:
    """The config holds the reference; the value only the keyring."""
    ref = secrets.store_secret("cloud", "tok-123456")
    path = tmp_path / "config.yaml"
    path.write_text(
        f"contexts:\n  p:\n    engines:\n      - kind: temporal\n        api-key: {ref}\n"
    )
    entry = load_config(path).context("p").engines[0]
    assert entry.settings["api-key"] == ref
    assert "tok-123456" not in path.read_text()
    assert secrets.resolve_secret(entry.settings["api-key"]) == "tok-123456"


@pytest.mark.filterwarnings("ignore:PBKDF2 without:DeprecationWarning")
def test_file_from_another_scheme_is_a_clear_error() -> None:
    """A keyring file written with keyrings.alt's weak defaults is refused, not misread."""
    from keyrings.alt.file import EncryptedKeyring

    path = secrets.file_keyring_path()
    path.parent.mkdir(parents=True)
    legacy = EncryptedKeyring()
    legacy.file_path = str(path)
    legacy.keyring_key = "correct horse"
    legacy.set_password("keyring-setting", "password reference", "password reference value")
    legacy._write_config_value("keyring-setting", "scheme", legacy.scheme)
    legacy._write_config_value("keyring-setting", "version", legacy.version)
    legacy.set_password("opsdeck", "x", "old-value")
    with pytest.raises(ConfigError, match="scheme mismatch"):
        secrets.resolve_secret("keyring:opsdeck/x")


def test_keyring_warning_once_per_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("contexts: {}\n")
    monkeypatch.setattr(secrets, "config_path", config)
    ref = secrets.store_secret("a", "1")
    assert capsys.readouterr().err.count("warning: no OS keyring available") == 1
    secrets.reset_backend()  # as a new process would
    assert secrets.resolve_secret(ref) == "1"
    assert capsys.readouterr().err == ""
    config.write_text("contexts: {}\nidentity: me\n")  # the config changed: say it again
    secrets.reset_backend()
    secrets.resolve_secret(ref)
    assert "warning: no OS keyring available" in capsys.readouterr().err
    monkeypatch.setattr(secrets, "config_path", tmp_path / "other.yaml")
    secrets.reset_backend()
    secrets.resolve_secret(ref)
    assert "warning: no OS keyring available" in capsys.readouterr().err


def test_keyring_warning_once_across_cli_runs(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("contexts: {}\n")
    env = dict(os.environ, OPSDECK_CONFIG=str(config))

    def secret_set() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "console.cli", "secret", "set", "x", "--stdin"],
            input="value",
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        return done.stderr

    assert "no OS keyring available" in secret_set()
    assert secret_set() == ""
    config.write_text("contexts: {}\nidentity: me\n")
    assert "no OS keyring available" in secret_set()
