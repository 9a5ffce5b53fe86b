"""Logic Apps settings, tokens and the ARM HTTP client (httpx, imported on first use).

Tokens: ``credential: default`` uses azure-identity's DefaultAzureCredential (Azure CLI
login, managed identity, environment); ``credential: service-principal`` with
``tenant-id``, ``client-id`` and ``client-secret`` (a keyring reference, resolved on the
first request) uses ClientSecretCredential. azure-identity is imported on the first
request; tests pass a ``token_provider`` instead.

Requests: 429 and 503 are retried after the server's Retry-After (seconds or an HTTP
date, capped) or a jittered exponential backoff, at most ``max-tries`` times in all;
a request that may repeat side effects (resubmit) is never retried. 401/403 raise
NotAuthorized naming the token scope and the resource; 404 NotFound; a body that is
not the JSON object the API documents raises BackendError ("malformed response").
nextLink URLs are followed only on the configured management host, so the bearer
token never goes anywhere else.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from adapters.settings_fields import positive_number as _number
from adapters.settings_fields import reject_unknown
from adapters.settings_fields import text as _text
from console.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    NotAuthorized,
    NotFound,
)
from console.ports import SecretResolver

BACKEND = "Logic Apps"
API_VERSION = "2019-05-01"
STANDARD_API_VERSION = "2018-11-01"
MAX_RETRY_AFTER = 60.0
_SECRET_REF = re.compile(r"^[a-z][a-z0-9+-]*:\S+$")
_KNOWN = {
    "name", "kind", "subscription-id", "resource-group", "workflows", "name-prefix",
    "sku", "site", "management-url", "credential", "tenant-id", "client-id",
    "client-secret", "max-tries", "timeout", "cancel-verify-timeout",
}  # fmt: skip
TokenProvider = Callable[[str], str]
"""scope -> bearer token; called in a worker thread (azure-identity blocks)."""


@dataclass(frozen=True)
class LogicAppsSettings:
    subscription_id: str
    resource_group: str
    workflows: tuple[str, ...] = ()
    name_prefix: str | None = None
    sku: str = "consumption"  # or "standard" (hostruntime management API of one app)
    site: str | None = None
    management_url: str = "https://management.azure.com"
    credential: str = "default"  # or "service-principal"
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_ref: str | None = None
    max_tries: int = 4
    timeout: float = 30.0
    cancel_verify_timeout: float = 30.0

    @property
    def scope(self) -> str:
        """The OAuth scope of ARM tokens."""
        return f"{self.management_url.rstrip('/')}/.default"

    @property
    def group_path(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"

    @property
    def workflows_path(self) -> str:
        if self.sku == "standard":
            return (
                f"{self.group_path}/providers/Microsoft.Web/sites/{self.site}/hostruntime/"
                "runtime/webhooks/workflow/api/management/workflows"
            )
        return f"{self.group_path}/providers/Microsoft.Logic/workflows"

    @property
    def api_version(self) -> str:
        return STANDARD_API_VERSION if self.sku == "standard" else API_VERSION


def parse_settings(settings: Mapping[str, object]) -> LogicAppsSettings:
    reject_unknown(settings, _KNOWN, "logicapps")
    sku = (_text(settings, "sku") or "consumption").lower()
    if sku not in ("consumption", "standard"):
        raise ConfigError(f"sku: 'consumption' or 'standard', got {sku!r}")
    site = _text(settings, "site")
    if sku == "standard" and site is None:
        raise ConfigError("site: required for sku standard (the Logic App (Standard) name)")
    credential = (_text(settings, "credential") or "default").lower()
    if credential not in ("default", "service-principal"):
        raise ConfigError(f"credential: 'default' or 'service-principal', got {credential!r}")
    secret = _text(settings, "client-secret")
    if secret is not None and not _SECRET_REF.match(secret):
        raise ConfigError(
            "client-secret: must be a secret reference such as keyring:opsdeck/azure-sp",
            hint="store it with `opsdeck secret set NAME`",
        )
    sp = (_text(settings, "tenant-id"), _text(settings, "client-id"), secret)
    if credential == "service-principal" and not all(sp):
        raise ConfigError(
            "credential service-principal needs tenant-id, client-id and client-secret"
        )
    workflows = settings.get("workflows") or []
    if isinstance(workflows, str):
        workflows = [workflows]
    if not isinstance(workflows, list) or not all(isinstance(w, str) and w for w in workflows):
        raise ConfigError("workflows: expected a list of workflow names")
    if sku == "standard" and not workflows:
        # The hostruntime API's workflow list has no documented example to rely on.
        raise ConfigError("workflows: required for sku standard (the workflow names)")
    url = _text(settings, "management-url") or "https://management.azure.com"
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"management-url: expected https://HOST, got {url!r}")
    tries = settings.get("max-tries", 4)
    if isinstance(tries, bool) or not isinstance(tries, int) or not 1 <= tries <= 10:
        raise ConfigError(f"max-tries: a whole number from 1 to 10, got {tries!r}")
    sub = _text(settings, "subscription-id", required=True)
    group = _text(settings, "resource-group", required=True)
    assert sub is not None and group is not None
    return LogicAppsSettings(
        subscription_id=sub,
        resource_group=group,
        workflows=tuple(workflows),
        name_prefix=_text(settings, "name-prefix"),
        sku=sku,
        site=site,
        management_url=url.rstrip("/"),
        credential=credential,
        tenant_id=sp[0],
        client_id=sp[1],
        client_secret_ref=secret,
        max_tries=tries,
        timeout=_number(settings, "timeout", 30.0),
        cancel_verify_timeout=_number(settings, "cancel-verify-timeout", 30.0),
    )


def azure_token_provider(settings: LogicAppsSettings, resolve: SecretResolver) -> TokenProvider:
    """A provider backed by azure-identity (imported when the first token is needed)."""
    credential: Any = None

    def provide(scope: str) -> str:
        nonlocal credential
        if credential is None:
            try:
                import azure.identity as identity
            except ImportError:
                raise ConfigError(
                    "azure-identity is not installed", hint="pip install azure-identity"
                ) from None
            if settings.credential == "service-principal":
                assert settings.client_secret_ref and settings.tenant_id and settings.client_id
                credential = identity.ClientSecretCredential(
                    settings.tenant_id, settings.client_id, resolve(settings.client_secret_ref)
                )
            else:
                credential = identity.DefaultAzureCredential()
        try:
            return str(credential.get_token(scope).token)
        except Exception as e:  # azure-identity raises its own hierarchy
            raise NotAuthorized(
                f"no Azure token for scope {scope}: {str(e).splitlines()[0]}",
                hint="run `az login`, or check the service principal's tenant, id and secret",
            ) from None

    return provide


def retry_after(headers: Mapping[str, str], attempt: int) -> float:
    """Seconds to wait: the server's Retry-After, else jittered exponential backoff."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.isdigit():
            return min(float(value), MAX_RETRY_AFTER)
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
            return max(0.0, min(when - time.time(), MAX_RETRY_AFTER))
        except (TypeError, ValueError):
            pass
    return float(min(2**attempt, 30) * random.uniform(0.5, 1.0))


class ArmClient:
    """Bearer-authenticated JSON requests to one management endpoint."""

    def __init__(
        self, settings: LogicAppsSettings, token_provider: TokenProvider, engine: str
    ) -> None:
        self.settings = settings
        self.engine = engine
        self._tokens = token_provider
        self._token: str | None = None
        self._http: Any = None
        self.sleep: Callable[[float], Any] = asyncio.sleep  # tests shorten waits

    def _client(self) -> Any:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(timeout=self.settings.timeout)
        return self._http

    async def _bearer(self, refresh: bool = False) -> str:
        if self._token is None or refresh:
            self._token = await asyncio.to_thread(self._tokens, self.settings.scope)
        return self._token

    def url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        from urllib.parse import urlencode

        params = {"api-version": self.settings.api_version, **(query or {})}
        return f"{self.settings.management_url}{path}?{urlencode(params, safe='$')}"

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        retry: bool = True,
        resource: str = "",
    ) -> tuple[int, Any]:
        """(status, parsed JSON or None) for 2xx; typed errors otherwise."""
        import httpx

        if urlsplit(url).netloc != urlsplit(self.settings.management_url).netloc:
            raise BackendError(f"refusing to follow a link off the management host: {url}")
        tries = self.settings.max_tries if retry else 1
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            headers = {"Authorization": f"Bearer {await self._bearer()}"}
            try:
                resp = await self._client().request(method, url, json=body, headers=headers)
            except httpx.HTTPError as e:
                if retry and attempt < tries and isinstance(e, httpx.TransportError):
                    await self.sleep(retry_after({}, attempt))
                    continue
                raise BackendUnavailable(
                    BACKEND,
                    self.settings.management_url,
                    f"{type(e).__name__}: {e}".rstrip(": "),
                    hint="check management-url, the network and any proxy",
                ) from None
            status = resp.status_code
            if status in (429, 503) and attempt < tries:
                await self.sleep(retry_after(resp.headers, attempt))
                continue
            if status == 401 and not refreshed:
                refreshed = True  # an expired cached token: fetch a new one once
                await self._bearer(refresh=True)
                attempt -= 1
                continue
            if 200 <= status < 300:
                return status, _json(resp, url, allow_empty=True)
            raise self._error(status, resp, resource or urlsplit(url).path, attempt)

    def _error(self, status: int, resp: Any, resource: str, attempt: int) -> Exception:
        message = _arm_message(resp)
        if status in (401, 403):
            what = "rejected the token" if status == 401 else "denied access"
            return NotAuthorized(
                f"{BACKEND} {what} ({status}) for {resource}: {message}",
                hint=f"token scope {self.settings.scope}; the identity needs a role such as "
                f"Logic App Operator/Contributor on resource group {self.settings.resource_group}",
            )
        if status == 404:
            return NotFound(f"{resource} not found ({message})")
        if status in (429, 503):
            return BackendUnavailable(
                BACKEND,
                self.settings.management_url,
                f"{status} {message} after {attempt} tries",
                hint="throttled or unavailable; try again later",
            )
        return BackendError(f"{BACKEND} {status} for {resource}: {message}")

    async def get(self, path_or_url: str, query: Mapping[str, str] | None = None) -> Any:
        url = path_or_url if "://" in path_or_url else self.url(path_or_url, query)
        _, data = await self.request("GET", url)
        if not isinstance(data, dict):
            raise BackendError(f"malformed response from {urlsplit(url).path}: not a JSON object")
        return data

    async def pages(
        self, path: str, query: Mapping[str, str] | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The ``value`` arrays of a list operation, following ``nextLink``."""
        url: str | None = self.url(path, query)
        while url:
            data = await self.get(url)
            value = data.get("value")
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise BackendError(f"malformed response from {urlsplit(url).path}: no 'value' list")
            yield value
            link = data.get("nextLink")
            url = str(link) if link else None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _json(resp: Any, url: str, *, allow_empty: bool) -> Any:
    if allow_empty and not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        raise BackendError(
            f"malformed response from {urlsplit(url).path}: not JSON ({resp.text[:80]!r})"
        ) from None


def _arm_message(resp: Any) -> str:
    """The ARM error body {"error": {"code", "message"}} as one line."""
    try:
        error = resp.json().get("error", {})
        return (
            f"{error.get('code', '')}: {error.get('message', '')}".strip(": ") or resp.reason_phrase
        )
    except (ValueError, AttributeError):
        return str(resp.reason_phrase or resp.status_code)
