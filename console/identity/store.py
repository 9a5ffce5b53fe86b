"""Where `opsdeck login` keeps the ID token: the OS keyring, else a 0600 file.

Keyring: service ``opsdeck``, name ``oidc-id-token:<issuer>``, when an OS keyring is
usable (the same rule as console.secrets: not keyring's fail/null backends and not the
keyrings.alt file backends). Otherwise ``$XDG_STATE_HOME/opsdeck/id-tokens/<hash>.json``
with mode 0600 in a 0700 directory, like kubectl's and gcloud's token caches. Not the
encrypted file keyring of console.secrets: that needs a password on every run, and an
ID token lives minutes to hours and only proves who you are to opsdeck. A token file
that others can read is refused, as ssh refuses a readable private key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from console.errors import IdentityError

SERVICE = "opsdeck"


@dataclass(frozen=True)
class StoredToken:
    token: str
    kind: Literal["keyring", "file"]
    location: str  # the keyring backend's class, or the file's path

    @property
    def where(self) -> str:
        return f"keyring {self.location}" if self.kind == "keyring" else f"file {self.location}"


def keyring_name(issuer: str) -> str:
    return f"oidc-id-token:{issuer}"


def token_file(issuer: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    digest = hashlib.sha256(issuer.encode()).hexdigest()[:24]
    return Path(base) / "opsdeck" / "id-tokens" / f"{digest}.json"


def os_keyring() -> Any | None:
    """The first usable OS keyring backend, or None (headless machines, CI)."""
    try:
        import keyring
        from keyring.backends import chainer

        current = keyring.get_keyring()
    except Exception:
        return None
    candidates = current.backends if isinstance(current, chainer.ChainerBackend) else [current]
    for backend in candidates:
        module = type(backend).__module__
        if module.startswith(("keyrings.alt", "keyring.backends.fail", "keyring.backends.null")):
            continue
        if module.startswith("keyring.backends.chainer"):
            continue
        try:
            if float(backend.priority) > 0:
                return backend
        except Exception:
            continue
    return None


def _backend_label(backend: Any) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def save(issuer: str, token: str) -> StoredToken:
    """Store in the OS keyring if there is one, else the 0600 file; one copy only."""
    backend = os_keyring()
    if backend is not None:
        try:
            backend.set_password(SERVICE, keyring_name(issuer), token)
        except Exception:
            backend = None  # locked or broken keyring: the file still works
        else:
            with contextlib.suppress(OSError):
                token_file(issuer).unlink()
            return StoredToken(token, "keyring", _backend_label(backend))
    path = token_file(issuer)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        path.parent.chmod(0o700)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"issuer": issuer, "id_token": token}, out)
    os.replace(tmp, path)
    return StoredToken(token, "file", str(path))


def load(issuer: str) -> StoredToken | None:
    backend = os_keyring()
    if backend is not None:
        try:
            value = backend.get_password(SERVICE, keyring_name(issuer))
        except Exception:
            value = None
        if value:
            return StoredToken(str(value), "keyring", _backend_label(backend))
    path = token_file(issuer)
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise IdentityError(
            f"the ID token file {path} is readable by others (mode {stat.S_IMODE(mode):04o})",
            hint="delete it (`opsdeck logout`) and run `opsdeck login`",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        token = data["id_token"] if data.get("issuer") == issuer else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        token = None
    return StoredToken(str(token), "file", str(path)) if isinstance(token, str) else None


def delete(issuer: str) -> list[str]:
    """Remove every stored copy; where they were (empty: nothing was stored)."""
    removed = []
    backend = os_keyring()
    if backend is not None:
        try:
            if backend.get_password(SERVICE, keyring_name(issuer)) is not None:
                backend.delete_password(SERVICE, keyring_name(issuer))
                removed.append(f"keyring {_backend_label(backend)}")
        except Exception:
            pass
    path = token_file(issuer)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        removed.append(f"file {path}")
    return removed
