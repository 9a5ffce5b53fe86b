"""Secrets: references in the config (``keyring:service/name``), values in a keyring.

Resolution goes through the `keyring` library. When no OS keyring is usable (headless
servers, CI: keyring's fail/null backend, or only the keyrings.alt file backends), the
value lives in keyrings.alt's *encrypted* file keyring under opsdeck's data directory
(``$XDG_DATA_HOME/opsdeck/keyring.cfg``), unlocked with the password in
``OPSDECK_KEYRING_PASSWORD`` (or asked for on a terminal), and a one-line warning goes to
stderr, once per config file: ``$XDG_STATE_HOME/opsdeck/notices.json`` remembers the
file's content it was shown for, so an edited config shows it again. The plain-text
keyrings.alt backend is never used, even if configured.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from console.config import SECRET_REF_PREFIX, default_config_path
from console.errors import ConfigError, OpsdeckError

PASSWORD_ENV = "OPSDECK_KEYRING_PASSWORD"
DEFAULT_SERVICE = "opsdeck"
_REFERENCE = ("keyring-setting", "password reference", "password reference value")

_backend: Any = None


def _print_warning(message: str) -> None:
    print(f"opsdeck: warning: {message}", file=sys.stderr)


# The TUI replaces this (a notification instead of a line across its screen) and sets
# allow_prompt to False (getpass would fight the TUI for the terminal).
warning_handler: Callable[[str], None] = _print_warning
allow_prompt = True
# The config file whose secrets these are (console.session sets it); None: the default.
config_path: Path | None = None


def parse_ref(ref: str) -> tuple[str, str]:
    """``keyring:service/name`` -> (service, name)."""
    if not ref.startswith(SECRET_REF_PREFIX):
        raise ConfigError(
            f"{ref[:20]!r}... is not a secret reference",
            hint=f"write {SECRET_REF_PREFIX}service/name and store it with `opsdeck secret set`",
        )
    service, sep, name = ref[len(SECRET_REF_PREFIX) :].partition("/")
    if not sep or not service or not name:
        raise ConfigError(
            f"{ref!r} is not a secret reference; expected {SECRET_REF_PREFIX}SERVICE/NAME"
        )
    return service, name


def ref_for(name: str) -> str:
    """The reference for a name given to `opsdeck secret set` (``svc/name`` or ``name``)."""
    if name.startswith(SECRET_REF_PREFIX):
        parse_ref(name)
        return name
    if "/" in name:
        service, _, key = name.partition("/")
        if not service or not key:
            raise ConfigError(f"{name!r} is not a secret name; use NAME or SERVICE/NAME")
        return f"{SECRET_REF_PREFIX}{name}"
    if not name:
        raise ConfigError("a secret name must not be empty")
    return f"{SECRET_REF_PREFIX}{DEFAULT_SERVICE}/{name}"


def resolve_secret(ref: str) -> str:
    """The value behind a reference; ConfigError (with the fix) when it is not stored."""
    service, name = parse_ref(ref)
    with _keyring_errors():
        value = _get_backend().get_password(service, name)
    if value is None:
        raise ConfigError(
            f"secret {ref} is not stored in the keyring",
            hint=f"store it with `opsdeck secret set {service}/{name}`",
        )
    return str(value)


def store_secret(name: str, value: str) -> str:
    """Store a value; returns the reference to write in the config."""
    ref = ref_for(name)
    service, key = parse_ref(ref)
    with _keyring_errors():
        _get_backend().set_password(service, key, value)
    return ref


@contextlib.contextmanager
def _keyring_errors() -> Iterator[None]:
    """A keyring failure is a configuration problem with one clear line, not a traceback."""
    try:
        yield
    except OpsdeckError:
        raise
    except Exception as exc:
        where = type(_backend).__name__ if _backend is not None else "keyring"
        raise ConfigError(
            f"the keyring ({where}) failed: {exc}", hint="see docs/config.md, section Secrets"
        ) from None


def file_keyring_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "opsdeck" / "keyring.cfg"


def backend_name() -> str:
    backend = _get_backend()
    return f"{type(backend).__module__}.{type(backend).__name__}"


def reset_backend() -> None:
    """Forget the chosen backend (tests change the environment between cases)."""
    global _backend
    _backend = None


def _get_backend() -> Any:
    global _backend
    if _backend is None:
        _backend = _choose_backend()
    return _backend


def _is_usable_os_backend(backend: Any) -> bool:
    module = type(backend).__module__
    if module.startswith("keyrings.alt") or module.startswith("keyring.backends.fail"):
        return False
    if module.startswith("keyring.backends.null") or module.startswith("keyring.backends.chainer"):
        return False
    try:
        return float(backend.priority) > 0
    except Exception:
        return False


def _choose_backend() -> Any:
    import keyring
    from keyring.backends import chainer

    current = keyring.get_keyring()
    candidates = current.backends if isinstance(current, chainer.ChainerBackend) else [current]
    usable = [b for b in candidates if _is_usable_os_backend(b)]
    if usable:
        return usable[0]
    path = file_keyring_path()
    _warn_once(f"no OS keyring available; using the encrypted file keyring {path}")
    return _encrypted_file_keyring(path)


def notices_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "opsdeck" / "notices.json"


def _warn_once(message: str) -> None:
    """Warn unless this message was shown for the config file as it is now."""
    config = (config_path or default_config_path()).expanduser().absolute()
    try:
        content = config.read_bytes()
    except OSError:
        content = b""
    seen = hashlib.sha256(message.encode() + b"\0" + content).hexdigest()
    store = notices_path()
    try:
        shown = json.loads(store.read_text(encoding="utf-8"))
        if not isinstance(shown, dict):
            shown = {}
    except (OSError, ValueError):
        shown = {}
    if shown.get(str(config)) == seen:
        return
    warning_handler(message)
    shown[str(config)] = seen
    try:  # remembering is best effort: at worst the warning shows again
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(f"{store.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(shown, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, store)
    except OSError:
        pass


def _keyring_password(creating: bool) -> str:
    password = os.environ.get(PASSWORD_ENV)
    if password:
        return password
    if not (allow_prompt and sys.stdin.isatty() and sys.stderr.isatty()):
        raise ConfigError(
            "no OS keyring is available and the encrypted file keyring needs a password",
            hint=f"set {PASSWORD_ENV} (see docs/config.md)",
        )
    import getpass

    password = getpass.getpass("Password for opsdeck's encrypted keyring: ")
    if creating and getpass.getpass("Repeat the password: ") != password:
        raise ConfigError("the passwords do not match")
    if not password:
        raise ConfigError("the keyring password must not be empty")
    return password


def _sha256() -> Any:
    try:
        from Cryptodome.Hash import SHA256
    except ImportError:
        from Crypto.Hash import SHA256
    return SHA256


def _encrypted_file_keyring(path: Path) -> Any:
    from keyrings.alt.file import EncryptedKeyring

    class OpsdeckFileKeyring(EncryptedKeyring):  # type: ignore[misc]
        """keyrings.alt's encrypted file keyring, password from the environment."""

        file_path = str(path)
        # keyrings.alt derives the key with PBKDF2-HMAC-SHA1 at 1,000 rounds (and warns
        # that this is weak); ours uses SHA-256 at 600,000 (OWASP 2023), ~0.1 s per key.
        # A different scheme name makes a file written with other settings fail loudly.
        scheme = "[PBKDF2-SHA256-600000] AES256.CFB"

        def _create_cipher(self, password: str, salt: bytes, iv: bytes) -> Any:
            key = self.KDF.PBKDF2(
                password, salt, dkLen=self.block_size, count=600_000, hmac_hash_module=_sha256()
            )
            return self.AES.new(key[: self.block_size], self.AES.MODE_CFB, iv)

        def _get_new_password(self) -> str:
            path.parent.mkdir(parents=True, exist_ok=True)
            return _keyring_password(creating=True)

        def _unlock(self) -> None:
            self.keyring_key = _keyring_password(creating=False)
            try:
                ok = self.get_password(_REFERENCE[0], _REFERENCE[1]) == _REFERENCE[2]
            except Exception:
                ok = False
            if not ok:
                self._lock()
                raise ConfigError(
                    f"wrong password for the encrypted keyring {path}",
                    hint=f"check {PASSWORD_ENV}",
                )

    return OpsdeckFileKeyring()
