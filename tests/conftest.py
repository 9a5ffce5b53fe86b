"""Session fixtures: a real Temporal dev server for integration and TUI tests.

In CI (CI=true) a missing server binary is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from adapters.temporal import TemporalEngine
from console.sandbox import start_workers, wait_ready
from console.sandbox.devserver import DevServer, free_port, start_dev_server, stop_process
from console.sandbox.workers import DemoIds

T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    state = tmp_path_factory.mktemp("temporal")
    server = start_dev_server(state, search_attributes={"CustomerId": "Keyword"})
    try:
        yield server
    finally:
        stop_process(server.pid)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real user's config, data or keyring."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("OPSDECK_CONFIG", raising=False)


# -- Temporal demo workers and engine (helper A) -----------------------------------------


@dataclass(frozen=True)
class Demo:
    """The seeded demo workflows (ids from console.sandbox.workers.DemoIds)."""

    ids: DemoIds
    address: str
    http_address: str
    namespace: str
    workers_pid: int


@pytest.fixture(scope="session")
def demo(temporal_server: DevServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """Demo workers against `temporal_server`, seeded with one workflow of each kind."""
    work = tmp_path_factory.mktemp("demo-workers")
    log_file, ready_file = work / "workers.log", work / "workers.ready"
    pid = start_workers(temporal_server.address, "default", log_file, ready_file)
    try:
        ids = wait_ready(pid, ready_file, log_file, timeout=60)
        yield Demo(
            ids=DemoIds(**ids),
            address=temporal_server.address,
            http_address=temporal_server.http_address,
            namespace="default",
            workers_pid=pid,
        )
    finally:
        stop_process(pid)


def _no_secrets(ref: str) -> str:
    raise AssertionError(f"no secret expected in tests, asked for {ref}")


def make_temporal_engine(
    server: DevServer, *, http: bool = True, **extra: object
) -> TemporalEngine:
    settings: dict[str, object] = {"name": "temporal", "kind": "temporal"}
    settings |= {"address": server.address, "namespace": "default"}
    if http:
        settings["http-address"] = server.http_address
    settings |= extra
    return TemporalEngine.from_config("temporal", settings, _no_secrets)


@pytest.fixture
def temporal_engine(temporal_server: DevServer) -> TemporalEngine:
    """A TemporalEngine on the test server, reading lists through the HTTP API."""
    return make_temporal_engine(temporal_server)


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, what: str = "condition"
) -> T:
    """Poll ``check`` until it returns something other than None/False; fail at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = await check()
        if last is not None and last is not False:
            return last  # type: ignore[return-value]
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")


@dataclass(frozen=True)
class MotoServer:
    """A real moto_server process (AWS API emulation over HTTP) for adapter tests."""

    endpoint: str
    region: str = "us-east-1"

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto_server on a free port, with Step Functions executing state machines for real."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    binary = Path(sys.executable).parent / "moto_server"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
            req = urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST")
            urllib.request.urlopen(req, timeout=2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                tail = log.read_text()[-2000:]
                raise RuntimeError(f"moto_server did not start: {tail}") from None
            time.sleep(0.1)
    try:
        yield MotoServer(endpoint)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
