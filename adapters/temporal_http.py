"""The read path through Temporal's HTTP API (stdlib only: the CLI's list must start fast).

Blocking calls; the engine runs them in a thread (asyncio.to_thread).
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from console.errors import BackendError, BackendUnavailable, NotFound, UsageError

UNREACHABLE_HINT = "is the server running? check http-address/TLS"

# google.rpc.Code values the HTTP gateway puts in error bodies.
_NOT_FOUND = 5
_INVALID_ARGUMENT = 3
_UNAVAILABLE = 14


def ssl_context(
    server_ca_file: str | None, client_cert: str | None, client_key: str | None
) -> ssl.SSLContext:
    """TLS context; PEM strings from the keyring go through a private temp dir (ssl needs files)."""
    context = ssl.create_default_context(cafile=server_ca_file)
    if client_cert and client_key:
        with tempfile.TemporaryDirectory(prefix="opsdeck-tls-") as tmp:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            for path, text in ((cert, client_cert), (key, client_key)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fp:
                    fp.write(text)
            context.load_cert_chain(cert, key)
    return context


class HttpVisibility:
    """List and count workflow executions of one namespace over the HTTP API."""

    def __init__(
        self,
        base_url: str,
        namespace: str,
        *,
        api_key: str | None = None,
        context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url
        self.namespace = namespace
        self.api_key = api_key
        self.context = context
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        ns = urllib.parse.quote(self.namespace, safe="")
        url = f"{self.base_url}/api/v1/namespaces/{ns}/{path}"
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v})
        request = urllib.request.Request(f"{url}?{query}" if query else url)
        request.add_header("Accept", "application/json")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as r:
                body: dict[str, Any] = json.load(r)
                return body
        except urllib.error.HTTPError as e:
            raise self._error(e) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise BackendUnavailable(
                "temporal", self.base_url, str(reason), hint=UNREACHABLE_HINT
            ) from None
        except ValueError as e:
            raise BackendError(f"temporal at {self.base_url} sent invalid JSON: {e}") from None

    def _error(self, error: urllib.error.HTTPError) -> Exception:
        try:
            body = json.loads(error.read() or b"{}")
        except ValueError:
            body = {}
        message = str(body.get("message") or error.reason)
        code = body.get("code")
        if code == _NOT_FOUND or error.code == 404:
            return NotFound(message)
        if code == _INVALID_ARGUMENT:
            return UsageError(f"temporal rejected the query: {message}")
        if code == _UNAVAILABLE or error.code in (502, 503, 504):
            return BackendUnavailable("temporal", self.base_url, message, hint=UNREACHABLE_HINT)
        return BackendError(f"temporal: {message} (HTTP {error.code})")

    def list_page(
        self, query: str, page_size: int, token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        body = self._get(
            "workflows",
            {"query": query, "pageSize": str(page_size), "nextPageToken": token or ""},
        )
        return list(body.get("executions") or []), body.get("nextPageToken") or None

    def count(self, query: str) -> int:
        body = self._get("workflow-count", {"query": query})
        return int(body.get("count") or 0)
