"""HTTP plumbing shared by the telemetry sources (Prometheus, Jaeger, Tempo, Loki).

Settings every HTTP source accepts (under ``sources:`` of a context):

- ``url`` (required): base URL, e.g. ``https://prometheus.example:9090``
- ``timeout``: seconds per request (default 10)
- ``token``: keyring reference; sent as ``Authorization: Bearer <token>``
- ``headers``: extra headers; values that are keyring references are resolved
  (``X-Scope-OrgID: team-a``, ``Authorization: keyring:opsdeck/loki-basic``)
- ``ca-file``: a CA bundle to verify the server with. TLS is always verified; there is
  deliberately no switch to turn verification off.

Every failure is an OpsdeckError that names the source: BackendUnavailable for
connection errors and timeouts, BackendError for 4xx/5xx answers (with the start of the
body) and for malformed JSON.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from console.errors import BackendError, BackendUnavailable, ConfigError
from console.ports import SecretResolver

SECRET_PREFIX = "keyring:"
_TLS_CONTEXTS: dict[str | None, ssl.SSLContext] = {}


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """One verifying SSL context per CA bundle, shared by every client.

    Building one loads the CA store (~80 ms, on the event loop); the correlation makes
    a client per source at once, so without sharing the fan-out would pay it per source.
    """
    context = _TLS_CONTEXTS.get(ca_file)
    if context is None:
        context = ssl.create_default_context(cafile=ca_file)
        _TLS_CONTEXTS[ca_file] = context
    return context


class HttpSource:
    """Base class: one ``httpx.AsyncClient`` made on first use."""

    kind = "http"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        ca_file: str | None = None,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.ca_file = ca_file
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def settings_from_config(
        cls, name: str, settings: Mapping[str, object], resolve_secret: SecretResolver
    ) -> dict[str, Any]:
        url = settings.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"source {name!r} ({cls.kind}): url: required, http(s)://host:port")
        headers: dict[str, str] = {}
        raw_headers = settings.get("headers") or {}
        if not isinstance(raw_headers, Mapping):
            raise ConfigError(f"source {name!r} ({cls.kind}): headers: expected a mapping")
        for key, value in raw_headers.items():
            text = str(value)
            headers[str(key)] = resolve_secret(text) if text.startswith(SECRET_PREFIX) else text
        token = settings.get("token")
        if isinstance(token, str) and token:
            if not token.startswith(SECRET_PREFIX):
                raise ConfigError(
                    f"source {name!r} ({cls.kind}): token: must be a keyring reference"
                )
            headers["Authorization"] = f"Bearer {resolve_secret(token)}"
        timeout = settings.get("timeout", 10.0)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise ConfigError(f"source {name!r} ({cls.kind}): timeout: expected seconds > 0")
        ca_file = settings.get("ca-file")
        return {
            "url": url,
            "headers": headers,
            "timeout": float(timeout),
            "ca_file": str(ca_file) if ca_file else None,
        }

    @property
    def label(self) -> str:
        return f"{self.kind} source {self.name!r}"

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.url,
                headers=self.headers,
                timeout=self.timeout,
                verify=_tls_context(self.ca_file),
            )
        return self._client

    async def get_json(
        self, path: str, params: Mapping[str, Any] | None = None, *, missing_ok: bool = False
    ) -> Any:
        """GET and decode JSON; every failure becomes an error naming this source.

        With ``missing_ok`` a 404 answer returns None (a trace the store does not know).
        """
        address = f"{self.url}{path}"
        try:
            response = await self.client().get(path, params=dict(params or {}))
        except httpx.TimeoutException:
            raise BackendUnavailable(
                self.label, address, f"no answer within {self.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise BackendUnavailable(
                self.label,
                address,
                str(exc) or type(exc).__name__,
                hint="check the url and that the server is up",
            ) from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            body = " ".join(response.text.split())[:200]
            raise BackendError(
                f"{self.label} answered HTTP {response.status_code} for {path}: {body}",
                hint="check credentials (token/headers)"
                if response.status_code in (401, 403)
                else None,
            )
        try:
            return response.json()
        except ValueError:
            raise BackendError(
                f"{self.label} returned malformed JSON for {path}: {response.text[:80]!r}"
            ) from None

    def malformed(self, path: str, what: str) -> BackendError:
        return BackendError(f"{self.label} returned an unexpected payload for {path}: {what}")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
