"""A local HTTP double that serves recorded vendor payloads (Jaeger, Tempo, Loki).

Routes map a path to (status, body, delay seconds); every request is recorded (path and
query) so tests can check what the adapter asked for. The payloads come from
tests/fixtures/ (see the SOURCE.md of each folder), never made up.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from console.sandbox.devserver import free_port

REPO = Path(__file__).resolve().parents[2]
OFFICIAL_FIXTURES = REPO / "tests" / "fixtures"
LOCAL_FIXTURES = REPO / "tests" / "fixtures" / "telemetry"


def official_fixture(name: str) -> Any:
    """An official vendor payload under tests/fixtures/ (e.g. ``jaeger/v3-GetTrace.json``)."""
    return json.loads((OFFICIAL_FIXTURES / name).read_text(encoding="utf-8"))


def local_fixture(name: str) -> Any:
    return json.loads((LOCAL_FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class Route:
    status: int = 200
    body: bytes = b"{}"
    delay: float = 0.0


@dataclass
class Double:
    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)

    def json(self, path: str, payload: Any, status: int = 200, delay: float = 0.0) -> None:
        self.routes[path] = Route(status, json.dumps(payload).encode(), delay)

    def raw(self, path: str, body: bytes, status: int = 200, delay: float = 0.0) -> None:
        self.routes[path] = Route(status, body, delay)


@contextmanager
def serve() -> Iterator[Double]:
    port = free_port()
    double = Double(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            double.requests.append((parts.path, parse_qs(parts.query)))
            route = double.routes.get(parts.path, Route(404, b'{"error": "not found"}'))
            if route.delay:
                time.sleep(route.delay)
            try:
                self.send_response(route.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield double
    finally:
        server.shutdown()
        server.server_close()
