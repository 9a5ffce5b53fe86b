"""Fixtures for the chaos extension's tests: a sandbox of their own, with Prometheus.

The module's sandbox (``console.sandbox.up``: dev server + seeded demo workers, data
dir in tmp) is stopped and restarted by the tests, so it is not the session's shared
``demo`` fixture. ``configuration`` is a Chaos Toolkit configuration with a fresh run id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos import _context as ctx
from console import sandbox
from console.sandbox import telemetry
from tests.integration.rabbit_fixtures import HOST, PORT


@pytest.fixture(scope="module")
def chaos_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sandbox.SandboxState]:
    data_dir = tmp_path_factory.mktemp("chaos-sandbox")
    state = sandbox.up(data_dir, ui=False)
    try:
        yield state
    finally:
        ctx.forget()
        sandbox.down(data_dir)


@pytest.fixture(scope="module")
def prometheus_url(chaos_sandbox: sandbox.SandboxState) -> Iterator[str]:
    """Prometheus scraping the sandbox's demo workers (as `opsdeck sandbox up` starts it)."""
    data_dir = Path(chaos_sandbox.data_dir)
    info = telemetry.up(data_dir, chaos_sandbox)
    try:
        assert info["prometheus_running"], info["missing"]
        yield f"http://127.0.0.1:{info['prometheus_port']}"
    finally:
        telemetry.down(data_dir)


def write_config(
    path: Path, state: sandbox.SandboxState, prometheus: str, rabbit_queue: str = "none"
) -> Path:
    path.write_text(
        f"""current-context: sandbox
contexts:
  sandbox:
    sandbox: true
    engines:
      - name: temporal
        kind: temporal
        address: {state.address}
        http-address: {state.http_address}
        namespace: default
    queues:
      - name: rabbit
        kind: rabbitmq
        url: amqp://{HOST}:{PORT}/%2F
        queues: [{rabbit_queue}]
    sources:
      - name: prometheus
        kind: prometheus
        url: {prometheus}
"""
    )
    return path


@pytest.fixture
def configuration(
    tmp_path: Path, chaos_sandbox: sandbox.SandboxState, prometheus_url: str
) -> dict[str, Any]:
    config = write_config(tmp_path / "config.yaml", chaos_sandbox, prometheus_url)
    return {
        "opsdeck_config": str(config),
        "opsdeck_prometheus": prometheus_url,  # for tests that rewrite the config
        "opsdeck_run_id": f"run-{uuid.uuid4().hex[:8]}",
        "opsdeck_experiment": "payment faults",
        "opsdeck_sandbox_dir": chaos_sandbox.data_dir,
    }
