"""Validated settings of one Temporal engine entry; pure data, no I/O, no temporalio.

Secrets stay references here and are resolved on first connect, so loading a config
never touches the keyring (which may prompt or be slow).
"""

from __future__ import annotations

import getpass
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from adapters.settings_fields import positive_number as _positive
from adapters.settings_fields import reject_unknown
from adapters.settings_fields import text as _text
from console.errors import ConfigError

_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
_SECRET_REF = re.compile(r"^[a-z][a-z0-9+-]*:\S+$")
_KNOWN = {
    "name", "kind", "address", "namespace", "http-address", "api-key", "tls",
    "batch-threshold", "identity", "rpc-timeout",
}  # fmt: skip
_TLS_KNOWN = {"client-cert", "client-key", "server-ca-file", "server-name"}


@dataclass(frozen=True)
class TlsSettings:
    client_cert_ref: str | None = None
    client_key_ref: str | None = None
    server_ca_file: str | None = None
    server_name: str | None = None


@dataclass(frozen=True)
class TemporalSettings:
    address: str
    namespace: str = "default"
    http_address: str | None = None
    api_key_ref: str | None = None
    tls: TlsSettings | None = None
    batch_threshold: int = 10
    identity: str = ""
    rpc_timeout: float = 10.0
    tls_disabled: bool = False  # `tls: false`: plain text even with an API key (local proxies)

    @property
    def http_base(self) -> str | None:
        """Base URL of the HTTP API; https whenever the gRPC side uses TLS or an API key."""
        if not self.http_address:
            return None
        if "://" in self.http_address:
            return self.http_address.rstrip("/")
        secure = not self.tls_disabled and (self.tls is not None or self.api_key_ref is not None)
        return f"{'https' if secure else 'http'}://{self.http_address}"


def default_identity() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"opsdeck:{user}@{socket.gethostname()}"


def _secret_ref(settings: Mapping[str, object], key: str, prefix: str = "") -> str | None:
    ref = _text(settings, key)
    if ref is not None and not _SECRET_REF.match(ref):
        raise ConfigError(
            f"{prefix}{key}: must be a secret reference such as keyring:opsdeck/{key}, "
            "never the secret itself",
            hint="store it with `opsdeck secret set NAME`",
        )
    return ref


def _host_port(value: str | None, key: str) -> str | None:
    if value is not None and "://" not in value and not _HOST_PORT.match(value):
        raise ConfigError(f"{key}: expected HOST:PORT, got {value!r}")
    return value


def _tls(value: object) -> TlsSettings | None:
    if value is None or value is False:
        return None
    if value is True:
        return TlsSettings()
    if not isinstance(value, Mapping):
        raise ConfigError(f"tls: expected true or a mapping, got {value!r}")
    unknown = set(value) - _TLS_KNOWN
    if unknown:
        raise ConfigError(
            f"tls.{sorted(unknown)[0]}: unknown field; known: {', '.join(sorted(_TLS_KNOWN))}"
        )
    tls = TlsSettings(
        client_cert_ref=_secret_ref(value, "client-cert", "tls."),
        client_key_ref=_secret_ref(value, "client-key", "tls."),
        server_ca_file=_text(value, "server-ca-file"),
        server_name=_text(value, "server-name"),
    )
    if (tls.client_cert_ref is None) != (tls.client_key_ref is None):
        raise ConfigError("tls: client-cert and client-key must be given together")
    return tls


def parse_settings(settings: Mapping[str, object]) -> TemporalSettings:
    """Validate an engine mapping; ConfigError names the offending field."""
    reject_unknown(settings, _KNOWN, "temporal")
    address = _host_port(_text(settings, "address", required=True), "address")
    assert address is not None
    threshold = settings.get("batch-threshold", 10)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ConfigError(f"batch-threshold: must be a whole number >= 1, got {threshold!r}")
    return TemporalSettings(
        address=address,
        namespace=_text(settings, "namespace") or "default",
        http_address=_host_port(_text(settings, "http-address"), "http-address"),
        api_key_ref=_secret_ref(settings, "api-key"),
        tls=_tls(settings.get("tls")),
        batch_threshold=threshold,
        identity=_text(settings, "identity") or default_identity(),
        rpc_timeout=_positive(settings, "rpc-timeout", 10.0),
        tls_disabled=settings.get("tls") is False,
    )
