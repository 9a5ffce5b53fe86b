"""`executions list -o jsonl` streams page by page over one kept-alive connection, and
the HTTP list path fetches the next page from its own thread.

The CLI reads the real dev server through a pass-through HTTP proxy that counts
connections and list requests, and can hold one request: the first JSON line must be
out while the last page is still held, which only streaming can do.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from temporalio.client import Client

from console.model import ListQuery
from console.sandbox.devserver import DevServer
from tests.conftest import eventually, make_temporal_engine

pytestmark = pytest.mark.integration

OPSDECK = str(Path(sys.executable).parent / "opsdeck")
WORKFLOWS = 130  # three pages of 50


class CountingProxy:
    """Forwards GETs to the server; counts connections and list requests; can hold one."""

    def __init__(self, upstream: str, hold_request: int | None = None, throttle: int = 0) -> None:
        self.upstream = upstream
        self.throttle = throttle  # answer this many list requests 429, as a rate limit does
        self.connections = 0
        self.list_requests = 0
        self.hold_request = hold_request
        self.held = threading.Event()
        self.release = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real server does

            def setup(self) -> None:
                proxy.connections += 1
                super().setup()

            def do_GET(self) -> None:
                if "/workflows?" in self.path or self.path.endswith("/workflows"):
                    proxy.list_requests += 1
                    if proxy.list_requests <= proxy.throttle:
                        body = b'{"code": 8, "message": "System Persistence Max QPS Reached."}'
                        self.send_response(429)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                    if proxy.list_requests == proxy.hold_request:
                        proxy.held.set()
                        proxy.release.wait(60)
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                conn.request("GET", self.path, headers={"Accept": "application/json"})
                response = conn.getresponse()
                body = response.read()
                conn.close()
                self.send_response(response.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CountingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def listed_type(temporal_server: DevServer) -> Iterator[str]:
    """WORKFLOWS running executions of a type of their own (nobody polls their queue)."""
    workflow_type = f"StreamTest{uuid.uuid4().hex[:8]}"

    async def start() -> None:
        client = await Client.connect(temporal_server.address)
        sem = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            async with sem:
                await client.start_workflow(
                    workflow_type, id=f"{workflow_type}-{i:04d}", task_queue="stream-no-worker"
                )

        await asyncio.gather(*(one(i) for i in range(WORKFLOWS)))

        async def all_visible() -> bool:
            n = await client.count_workflows(f"WorkflowType = '{workflow_type}'")
            return n.count == WORKFLOWS

        await eventually(all_visible, what=f"{WORKFLOWS} executions visible")

    asyncio.run(start())
    yield workflow_type


def _config(tmp_path: Path, server: DevServer, http_address: str) -> dict[str, str]:
    path = tmp_path / "config.yaml"
    path.write_text(
        "current-context: local\ncontexts:\n  local:\n    engines:\n"
        f"      - kind: temporal\n        address: {server.address}\n"
        f"        http-address: {http_address}\n        namespace: default\n"
    )
    return dict(os.environ, OPSDECK_CONFIG=str(path))


def test_jsonl_writes_the_first_page_before_the_last_is_fetched(
    temporal_server: DevServer, listed_type: str, tmp_path: Path
) -> None:
    args = ["executions", "list", "--type", listed_type, "--limit", "0", "--page-size", "50"]
    with CountingProxy(temporal_server.http_address, hold_request=3) as proxy:
        env = _config(tmp_path, temporal_server, proxy.address)
        proc = subprocess.Popen(
            [OPSDECK, *args, "-o", "jsonl"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        try:
            assert proxy.held.wait(30), "the third page was never requested"
            assert proc.stdout is not None and proc.stderr is not None
            readable, _, _ = select.select([proc.stdout], [], [], 20)
            assert readable, "no line written while the last page was held"
            first = proc.stdout.readline()
            assert first, f"no line before the end: {proc.stderr.read()}"
            # The last page is still held by the proxy: this line came from page one.
            assert proc.poll() is None
            assert json.loads(first)["workflow_type"] == listed_type
            proxy.release.set()
            rest = proc.stdout.read()  # not communicate(): it would skip what readline buffered
            err = proc.stderr.read()
            proc.wait(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 0, err
        rows = [json.loads(line) for line in [first, *rest.splitlines()]]
        assert len(rows) == WORKFLOWS
        assert len({r["workflow_id"] for r in rows}) == WORKFLOWS
        assert proxy.list_requests == 3  # 50 + 50 + 30: no extra page asked for
        assert proxy.connections == 1  # one kept-alive connection for every page


def test_json_stays_one_valid_document_newest_first(
    temporal_server: DevServer, listed_type: str, tmp_path: Path
) -> None:
    env = _config(tmp_path, temporal_server, temporal_server.http_address)
    args = ["executions", "list", "--type", listed_type, "--limit", "120", "--page-size", "50"]
    out = subprocess.run([OPSDECK, *args, "-o", "json"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 120
    starts = [r["start_time"] for r in rows]
    assert starts == sorted(starts, reverse=True)
    lines = subprocess.run([OPSDECK, *args, "-o", "jsonl"], capture_output=True, text=True, env=env)
    assert sorted(json.loads(x)["ref"] for x in lines.stdout.splitlines()) == sorted(
        r["ref"] for r in rows
    )


def test_limit_stops_before_the_next_page(
    temporal_server: DevServer, listed_type: str, tmp_path: Path
) -> None:
    with CountingProxy(temporal_server.http_address) as proxy:
        env = _config(tmp_path, temporal_server, proxy.address)
        args = ["executions", "list", "--type", listed_type, "--limit", "100", "--page-size", "50"]
        out = subprocess.run(
            [OPSDECK, *args, "-o", "jsonl"], capture_output=True, text=True, env=env
        )
        assert out.returncode == 0, out.stderr
        assert len(out.stdout.splitlines()) == 100
        assert proxy.list_requests == 2  # the prefetch never asks past --limit


def test_bad_page_size_is_a_usage_error(temporal_server: DevServer, tmp_path: Path) -> None:
    env = _config(tmp_path, temporal_server, temporal_server.http_address)
    out = subprocess.run(
        [OPSDECK, "executions", "list", "--page-size", "0", "-o", "jsonl"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 2
    assert "--page-size must be 1 or more" in out.stderr
    assert out.stdout == ""


def test_a_rate_limited_page_is_asked_again(
    temporal_server: DevServer, listed_type: str, tmp_path: Path
) -> None:
    with CountingProxy(temporal_server.http_address, throttle=2) as proxy:
        env = _config(tmp_path, temporal_server, proxy.address)
        args = ["executions", "list", "--type", listed_type, "--limit", "0", "--page-size", "50"]
        out = subprocess.run(
            [OPSDECK, *args, "-o", "json"], capture_output=True, text=True, env=env
        )
        assert out.returncode == 0, out.stderr
        assert len(json.loads(out.stdout)) == WORKFLOWS
        assert proxy.list_requests == 2 + 3  # two 429s, then the three pages


# The HTTP list path asks for the next page from its own thread, not from the event
# loop: a caller busy with the page it was handed (converting, encoding, without
# awaiting) no longer delays the next request; never past the limit; a caller that
# stops early stops the requests.
PAGE = 10


def _wait_for(check: Callable[[], bool], timeout: float) -> bool:
    """Block the calling thread (and so the event loop) until check() or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_next_page_is_requested_while_the_caller_holds_the_loop(
    temporal_server: DevServer, listed_type: str
) -> None:
    with CountingProxy(temporal_server.http_address) as proxy:
        engine = make_temporal_engine(temporal_server, **{"http-address": proxy.address})
        query = ListQuery(workflow_type=listed_type, page_size=PAGE, limit=None)

        async def first_page_then_block() -> tuple[int, bool]:
            pages = engine.list_pages(query)
            rows = await anext(pages)
            # The loop is blocked here, as by a caller converting a big page.
            asked = _wait_for(lambda: proxy.list_requests >= 2, timeout=20)
            await pages.aclose()
            return len(rows), asked

        rows, asked = asyncio.run(first_page_then_block())
    assert rows == PAGE
    assert asked, "the second page was not requested while the caller held the loop"


def test_never_asks_past_the_limit_and_rows_keep_the_servers_order(
    temporal_server: DevServer, listed_type: str
) -> None:
    limit = 25  # three pages of 10, the last one cut
    with CountingProxy(temporal_server.http_address) as proxy:
        engine = make_temporal_engine(temporal_server, **{"http-address": proxy.address})
        whole = make_temporal_engine(temporal_server)

        async def both() -> tuple[list[str], list[str]]:
            paged = [
                e.ref.workflow_id
                async for e in engine.list(
                    ListQuery(workflow_type=listed_type, page_size=PAGE, limit=limit)
                )
            ]
            one_page = [
                e.ref.workflow_id
                async for e in whole.list(
                    ListQuery(workflow_type=listed_type, page_size=1000, limit=limit)
                )
            ]
            return paged, one_page

        paged, one_page = asyncio.run(both())
        assert paged == one_page and len(paged) == limit
        assert proxy.list_requests == 3


def test_a_caller_that_stops_early_stops_the_requests(
    temporal_server: DevServer, listed_type: str
) -> None:
    pages_in_all = -(-WORKFLOWS // PAGE)
    with CountingProxy(temporal_server.http_address) as proxy:
        engine = make_temporal_engine(temporal_server, **{"http-address": proxy.address})

        async def take_one_page() -> None:
            pages = engine.list_pages(ListQuery(workflow_type=listed_type, page_size=PAGE))
            await anext(pages)
            await pages.aclose()
            await asyncio.sleep(1.0)  # what a runaway thread would use to fetch on

        asyncio.run(take_one_page())
        # one taken, at most AHEAD more fetched or in flight when it stopped
        assert proxy.list_requests <= 4 < pages_in_all
