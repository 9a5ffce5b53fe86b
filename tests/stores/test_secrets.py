"""The store's password never reaches output: not in URLs shown, errors or status."""

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
from console.stores.settings import ENV_URL, StoreSettings, redact_url

EXE = str(Path(sys.executable).parent / "opsdeck")
PASSWORD = "hunter2-Xq9-very-secret"


@pytest.fixture
def file_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv(secrets.PASSWORD_ENV, "correct horse")
    secrets.reset_backend()
    yield
    secrets.reset_backend()


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run(
        [EXE, *args], capture_output=True, text=True, env=env or dict(os.environ), timeout=60
    )
    return done.returncode, done.stdout + done.stderr


def write_config(tmp_path: Path, store: str) -> Path:
    path = tmp_path / "config" / "opsdeck" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"store:\n{store}", encoding="utf-8")
    return path


def test_redact_url() -> None:
    assert redact_url("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_url("postgresql://u@h/db?password=x&sslmode=require") == (
        "postgresql://u@h/db?password=***&sslmode=require"
    )
    assert redact_url("postgresql://h/db") == "postgresql://h/db"


def test_keyring_password_is_used_and_never_shown(
    fresh_database: str, tmp_path: Path, file_keyring: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)
    secrets.store_secret("opsdeck/store", PASSWORD)
    write_config(tmp_path, f"  url: {fresh_database}\n  password: keyring:opsdeck/store\n")
    settings = StoreSettings(**{"url": fresh_database, "password_ref": "keyring:opsdeck/store"})
    assert settings.password() == PASSWORD
    assert load_config().store["password"] == "keyring:opsdeck/store"
    outputs = []
    for args in (
        ("store", "migrate", "-o", "json"),
        ("store", "status"),
        ("store", "status", "-o", "json"),
        ("audit", "verify", "-o", "json"),
        ("audit", "list"),
    ):
        code, out = run(*args)
        assert code == 0, out
        outputs.append(out)
    # An unreachable server: the error names the store, never the password.
    write_config(tmp_path, "  url: postgresql://postgres@127.0.0.1:1/x\n"
                 "  password: keyring:opsdeck/store\n  connect-timeout: 1\n")  # fmt: skip
    code, out = run("audit", "list")
    assert code == 1 and "cannot connect to the store postgresql://postgres@127.0.0.1:1/x" in out
    outputs.append(out)
    for out in outputs:
        assert PASSWORD not in out


def test_a_password_in_the_environment_url_is_redacted(tmp_path: Path) -> None:
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/nowhere?connect_timeout=1"
    env = dict(os.environ) | {ENV_URL: url}
    for args in (("store", "status"), ("audit", "verify"), ("store", "copy", "--to", url)):
        code, out = run(*args, env=env)
        assert code != 0
        assert PASSWORD not in out and "postgres:***@127.0.0.1:1" in out, out


def test_plain_text_passwords_are_refused_in_the_config(tmp_path: Path) -> None:
    write_config(tmp_path, f"  url: postgresql://u:{PASSWORD}@db/ops\n")
    with pytest.raises(ConfigError, match="must not be stored in plain text") as caught:
        load_config()
    assert PASSWORD not in str(caught.value)
    write_config(tmp_path, f"  url: postgresql://u@db/ops\n  password: {PASSWORD}\n")
    with pytest.raises(ConfigError, match="must not be stored in plain text") as caught:
        load_config()
    assert PASSWORD not in str(caught.value)
    write_config(tmp_path, "  url: mysql://u@db/ops\n")
    with pytest.raises(ConfigError, match="not a PostgreSQL URL"):
        load_config()
