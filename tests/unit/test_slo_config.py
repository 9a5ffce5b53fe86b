"""The ``slos:`` section: defaults, both shapes (map and list), the cache keeps it,
and every error names file:line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

import console.config as config_module
from console.config import load_config, parse_config
from console.config_slo import DEFAULT_ALERTS, BurnAlert, PromQuery
from console.errors import ConfigError

HEAD = """\
contexts:
  prod:
    engines:
      - kind: temporal
        address: 127.0.0.1:7233
    sources:
      - kind: prometheus
        name: prom
        url: http://127.0.0.1:9090
    slos:
"""

GOOD = (
    HEAD
    + """\
      orders:
        workflow-type: OrderWorkflow
        success-rate: 99.5%
      latency:
        query: "TaskQueue = 'orders'"
        completion-time: {p99: 500ms}
        window: 7d
        engine: temporal
        prometheus:
          latency: histogram_quantile(0.99, sum by (le) (rate(x_bucket[$window])))
        alerts:
          page: {long: 2h, burn-rate: 10}
          ticket: off
"""
)


def test_slos_with_defaults(tmp_path: Path) -> None:
    (orders, latency) = parse_config(GOOD, tmp_path / "c.yaml").context("prod").slos
    assert (orders.name, orders.kind, orders.objective) == ("orders", "success_rate", 0.995)
    assert orders.window_s == 30 * 86400 and orders.alerts == DEFAULT_ALERTS
    assert orders.workflow_type == "OrderWorkflow" and orders.prometheus is None
    assert orders.location.endswith("c.yaml:11")
    assert (latency.kind, latency.objective, latency.threshold_s) == ("completion_time", 0.99, 0.5)
    assert (latency.percentile, latency.window_s, latency.engine) == ("p99", 7 * 86400, "temporal")
    assert latency.prometheus == PromQuery(
        source="prom", latency="histogram_quantile(0.99, sum by (le) (rate(x_bucket[$window])))"
    )
    assert latency.alerts == (BurnAlert("page", 7200.0, 300.0, 10.0),)


def test_a_list_of_slos(tmp_path: Path) -> None:
    text = HEAD + "      - name: a\n        query: x\n        success-rate: 0.9\n"
    (spec,) = parse_config(text, tmp_path / "c.yaml").context("prod").slos
    assert (spec.name, spec.objective, spec.query) == ("a", 0.9, "x")


def test_the_cache_keeps_the_slos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD)
    first = load_config(path)

    def no_parse(text: str, p: Path) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(config_module, "parse_config", no_parse)
    cached = load_config(path)
    assert cached == first
    assert cached.context("prod").slos[1].prometheus == first.context("prod").slos[1].prometheus


BAD = [
    ("      orders:\n        success-rate: 99%\n", 12, "slos.orders.workflow-type: required"),
    ("      orders:\n        query: x\n        success-rate: 120%\n", 13,
     "slos.orders.success-rate: expected a percentage between 0 and 100"),
    ("      orders:\n        query: x\n", 12,
     "slos.orders.success-rate: give exactly one of success-rate or completion-time"),
    ("      o:\n        query: x\n        completion-time: {p42: 1s}\n", 13,
     "slos.o.completion-time: expected one percentile and its bound"),
    ("      o:\n        query: x\n        completion-time: {p95: soon}\n", 13,
     "slos.o.completion-time.p95: expected a duration"),
    ("      o:\n        query: x\n        success-rate: 99%\n        window: 1m\n", 14,
     "slos.o.window: expected a duration of 10m or more"),
    ("      o:\n        query: x\n        success-rate: 99%\n        engine: sfn\n", 14,
     "slos.o.engine: no engine 'sfn' (engines: temporal)"),
    ("      o:\n        query: x\n        success-rate: 99%\n        objective: 3\n", 14,
     "slos.o.objective: unknown key"),
    ("      o:\n        query: x\n        success-rate: 99%\n        prometheus: {good: g}\n",
     14, "slos.o.prometheus.total: required: good and total go together"),
    ("      o:\n        query: x\n        success-rate: 99%\n        prometheus:\n"
     "          source: nope\n          good: g\n          total: t\n", 15,
     "slos.o.prometheus.source: no prometheus source 'nope' (sources: prom)"),
    ("      o:\n        query: x\n        success-rate: 99%\n        alerts:\n"
     "          page: {long: 5m, short: 1h}\n", 15,
     "slos.o.alerts.page.short: the short window must not exceed the long one"),
    ("      o:\n        query: x\n        success-rate: 99%\n      o:\n        query: y\n", 14,
     "contexts.prod.slos.o: duplicate key"),
]  # fmt: skip


@pytest.mark.parametrize(("block", "line", "message"), BAD)
def test_bad_slos_name_file_line_and_field(
    tmp_path: Path, block: str, line: int, message: str
) -> None:
    path = tmp_path / "c.yaml"
    with pytest.raises(ConfigError) as caught:
        parse_config(HEAD + block, path)
    assert caught.value.location == f"{path}:{line}"
    assert message in caught.value.message
