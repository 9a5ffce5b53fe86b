"""Prometheus adapter against a REAL Prometheus (Debian's `prometheus` package).

The module fixture runs a small OpenMetrics exporter (prometheus-client, a histogram
observed with a trace-id exemplar) and a Prometheus started with
``--enable-feature=exemplar-storage`` on free ports, scraping the exporter and the
Temporal dev server's metrics port every second. Everything waits by polling.
`make test` installs the package (Makefile); in CI a missing binary is a failure.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.prometheus import PrometheusSource
from console.correlate import correlate
from console.errors import BackendError
from console.sandbox.devserver import DevServer, free_port
from tests.conftest import eventually

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@dataclass(frozen=True)
class RealPrometheus:
    url: str


@pytest.fixture(scope="module")
def exporter_port() -> Iterator[int]:
    from prometheus_client import CollectorRegistry, Histogram, start_http_server

    registry = CollectorRegistry()
    latency = Histogram(
        "demo_latency_seconds", "Demo request latency", registry=registry, buckets=(0.1, 0.5, 1)
    )
    latency.observe(0.05)
    latency.observe(0.7, exemplar={"trace_id": TRACE})
    port = free_port()
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield port
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, exporter_port: int, temporal_server: DevServer
) -> Iterator[RealPrometheus]:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        raise RuntimeError("prometheus is not installed; run `make test` (it installs it)")
    work = tmp_path_factory.mktemp("prometheus")
    config = work / "prometheus.yml"
    config.write_text(
        f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: exporter
    static_configs: [{{targets: ["127.0.0.1:{exporter_port}"]}}]
  - job_name: temporal
    static_configs: [{{targets: ["127.0.0.1:{temporal_server.metrics_port}"]}}]
"""
    )
    port = free_port()
    log = work / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--enable-feature=exemplar-storage",
            ],
            stdout=out,
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/-/ready", timeout=2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"prometheus did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)
    try:
        yield RealPrometheus(url)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def source(url: str, **settings: Any) -> PrometheusSource:
    return PrometheusSource.from_config("prom", {"url": url, **settings}, str)


async def test_range_query_from_a_real_scrape(prometheus: RealPrometheus) -> None:
    prom = source(prometheus.url)

    async def scraped() -> Any:
        now = datetime.now(UTC)
        found = await prom.query_range("up", now - timedelta(minutes=2), now, 1)
        jobs = {s.labels.get("job"): s for s in found if s.samples}
        return jobs if {"exporter", "temporal"} <= set(jobs) else None

    jobs = await eventually(scraped, timeout=60, what="both targets scraped")
    assert jobs["exporter"].samples[-1].value == 1.0
    assert jobs["temporal"].samples[-1].value == 1.0  # the Temporal dev server's metrics
    await prom.close()


async def test_exemplars_carry_the_trace_id(prometheus: RealPrometheus) -> None:
    prom = source(prometheus.url)

    async def exemplar() -> Any:
        now = datetime.now(UTC)
        found = await prom.query_exemplars(
            "demo_latency_seconds_bucket", now - timedelta(minutes=5), now + timedelta(minutes=1)
        )
        return [e for e in found if e.trace_id == TRACE] or None

    (found, *_) = await eventually(exemplar, timeout=60, what="exemplar stored")
    assert found.value == 0.7
    assert found.series["__name__"] == "demo_latency_seconds_bucket"
    await prom.close()


async def test_correlate_marks_the_matching_exemplar(prometheus: RealPrometheus) -> None:
    prom = source(prometheus.url, queries=["demo_latency_seconds_bucket"])

    async def correlated() -> Any:
        result = await correlate(TRACE, sources={"prom": prom}, window=timedelta(minutes=10))
        marks = [i for i in result.timeline if i.kind == "exemplar" and i.details["matches"]]
        return (result, marks) if marks else None

    result, marks = await eventually(correlated, timeout=60, what="exemplar in timeline")
    assert marks[0].trace_id == TRACE and marks[0].source == "prom"
    assert any(i.kind == "sample" for i in result.timeline)
    assert [s.status for s in result.statuses] == ["ok"]
    await prom.close()


async def test_bad_promql_is_a_source_error(prometheus: RealPrometheus) -> None:
    prom = source(prometheus.url)
    now = datetime.now(UTC)
    with pytest.raises(BackendError, match="prometheus source 'prom' answered HTTP 400"):
        await prom.query_range("sum(", now - timedelta(minutes=1), now, 1)
    await prom.close()
