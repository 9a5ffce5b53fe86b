"""The read path through Temporal's HTTP API (stdlib only: the CLI's list must start fast).

Blocking calls; the engine runs them in a thread (asyncio.to_thread).
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import tempfile
import threading
import time
import urllib.parse
from typing import Any

from console.errors import BackendError, BackendUnavailable, NotFound, UsageError

UNREACHABLE_HINT = "is the server running? check http-address/TLS"

# google.rpc.Code values the HTTP gateway puts in error bodies.
_NOT_FOUND = 5
_INVALID_ARGUMENT = 3
_UNAVAILABLE = 14


# What a kept-alive connection the server has since closed raises; never a timeout
# (a slow server asked twice would only wait twice as long).
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
_THROTTLE_BACKOFF = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)  # seconds, then the 429 is an error
# A 429 that waiting does not clear soon (e.g. "Max concurrent batch operations is
# reached": one job per namespace on a dev server): reported at once.
_CONCURRENT_LIMIT = b"RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT"


_BIG_BODY = 64 * 1024  # a page of ~150 rows and more


def _loads(raw: bytes) -> Any:
    """JSON from the server: orjson for pages (a 1,000-row page is ~450 KB, decoded ~3x
    faster than by json), json for small bodies (not worth orjson's import)."""
    if len(raw) < _BIG_BODY:
        return json.loads(raw)
    import orjson

    return orjson.loads(raw)


def _reason(error: Exception) -> str:
    """What urllib used to say: the OS error's text, or the exception's."""
    if isinstance(error, OSError) and error.strerror:
        return f"[Errno {error.errno}] {error.strerror}"
    return str(error) or type(error).__name__


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
    """List and count workflow executions of one namespace over the HTTP API.

    Connections are kept alive and reused (a 10,000-row list is ten requests; a TLS
    handshake each would cost more than the rows). Idle ones wait in a small pool so
    concurrent callers in threads never share one.
    """

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
        parts = urllib.parse.urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connect(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        if self._https:
            return http.client.HTTPSConnection(
                self._netloc, timeout=self.timeout, context=self.context
            )
        return http.client.HTTPConnection(self._netloc, timeout=self.timeout)

    def _release(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        return self.send("GET", path, params)

    def send(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One call under /api/v1/namespaces/{ns}/; ``body`` goes as JSON. A POST is sent
        again only where the server dedups it (e.g. a batch job id)."""
        ns = urllib.parse.quote(self.namespace, safe="")
        target = f"{self._prefix}/api/v1/namespaces/{ns}/{path}"
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v})
        target = f"{target}?{query}" if query else target
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        throttled = 0
        attempt = 0
        while True:
            attempt += 1
            conn = self._connect()
            reused = conn.sock is not None
            try:
                conn.request(method, target, body=payload, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if reused and attempt == 1 and isinstance(e, _STALE):
                    continue  # the server closed an idle keep-alive connection: once more
                raise BackendUnavailable(
                    "temporal", self.base_url, _reason(e), hint=UNREACHABLE_HINT
                ) from None
            if response.will_close:
                conn.close()
            else:
                self._release(conn)
            if (
                response.status == 429
                and _CONCURRENT_LIMIT not in raw
                and throttled < len(_THROTTLE_BACKOFF)
            ):
                # The server's rate limit (e.g. persistence QPS): wait and ask again, as
                # the SDK and the Temporal CLI do for RESOURCE_EXHAUSTED.
                time.sleep(_THROTTLE_BACKOFF[throttled])
                throttled += 1
                continue
            if response.status >= 400:
                raise self._error(response.status, response.reason, raw)
            try:
                data: dict[str, Any] = _loads(raw)
            except ValueError as e:
                raise BackendError(f"temporal at {self.base_url} sent invalid JSON: {e}") from None
            return data

    def _error(self, status: int, reason: str, raw: bytes) -> Exception:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        message = str(body.get("message") or reason)
        code = body.get("code")
        if code == _NOT_FOUND or status == 404:
            return NotFound(message)
        if code == _INVALID_ARGUMENT:
            return UsageError(f"temporal rejected the query: {message}")
        if code == _UNAVAILABLE or status in (502, 503, 504):
            return BackendUnavailable("temporal", self.base_url, message, hint=UNREACHABLE_HINT)
        return BackendError(f"temporal: {message} (HTTP {status})")

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
