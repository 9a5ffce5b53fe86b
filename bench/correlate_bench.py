"""Correlation fan-out: total time vs the slowest source (issue 4), run by hand.

    .venv/bin/python bench/correlate_bench.py

Serves the official payloads (Jaeger v1 and v3 from tests/fixtures/jaeger/, Tempo
OTLP, Loki query_range from tests/fixtures/telemetry/) from local HTTP doubles that wait
0.2, 0.4, 0.6 and 0.8 s before answering, then times ``console.correlate.correlate`` on a
traceparent. Sequential calls would take the sum (2.0 s); the fan-out should take about
the slowest (0.8 s) plus overhead. Prints the median of RUNS runs; results go to
bench/RESULTS.md by hand.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.jaeger import JaegerSource  # noqa: E402
from adapters.loki import LokiSource  # noqa: E402
from adapters.tempo import TempoSource  # noqa: E402
from console.correlate import correlate  # noqa: E402
from tests.integration.telemetry_double import local_fixture, official_fixture, serve  # noqa: E402

TRACE = "00000000000000000000000000000001"
DELAYS = {"jaeger-v1": 0.2, "jaeger-v3": 0.4, "tempo": 0.6, "loki": 0.8}
RUNS = int(os.environ.get("BENCH_RUNS", "7"))


async def one_run(urls: dict[str, str]) -> tuple[float, list[str]]:
    sources = {
        "jaeger-v1": JaegerSource("jaeger-v1", urls["jaeger-v1"], api="v1"),
        "jaeger-v3": JaegerSource("jaeger-v3", urls["jaeger-v3"], api="v3"),
        "tempo": TempoSource("tempo", urls["tempo"]),
        "loki": LokiSource("loki", urls["loki"], selector='{job="varlogs"}'),
    }
    started = time.perf_counter()
    result = await correlate(f"00-{TRACE}-0000000000000002-01", sources=sources, timeout=5)
    took = time.perf_counter() - started
    for source in sources.values():
        await source.close()
    return took, [f"{s.source}={s.status}:{s.elapsed:.2f}s" for s in result.statuses]


def main() -> None:
    with serve() as v1, serve() as v3, serve() as tempo, serve() as loki:
        v1.json(
            f"/api/traces/{TRACE}",
            {"data": [official_fixture("jaeger/v1-trace-ui_01.json")]},
            delay=DELAYS["jaeger-v1"],
        )
        v3.json(
            f"/api/v3/traces/{TRACE}",
            official_fixture("jaeger/v3-GetTrace.json"),
            delay=DELAYS["jaeger-v3"],
        )
        tempo.json(
            f"/api/traces/{TRACE}",
            official_fixture("jaeger/v3-GetTrace.json")["result"],
            delay=DELAYS["tempo"],
        )
        loki.json(
            "/loki/api/v1/query_range",
            local_fixture("loki-query_range-streams.json"),
            delay=DELAYS["loki"],
        )
        urls = {"jaeger-v1": v1.url, "jaeger-v3": v3.url, "tempo": tempo.url, "loki": loki.url}
        times = []
        for _ in range(RUNS):
            took, statuses = asyncio.run(one_run(urls))
            times.append(took)
    total, slowest = sum(DELAYS.values()), max(DELAYS.values())
    print(f"sources: {DELAYS} (sum {total:.2f} s, slowest {slowest:.2f} s)")
    print(f"last run statuses: {' '.join(statuses)}")
    print(
        f"correlate total over {RUNS} runs: median {statistics.median(times):.3f} s, "
        f"min {min(times):.3f} s, max {max(times):.3f} s"
    )


if __name__ == "__main__":
    main()
