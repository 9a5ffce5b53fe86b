"""`opsdeck correlate` end to end: config sources -> HTTP doubles with vendor payloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console import cli
from console.sandbox.devserver import free_port
from tests.integration.telemetry_double import local_fixture, official_fixture, serve

TRACE = "00000000000000000000000000000001"


def write_config(path: Path, jaeger: str, loki: str, tempo: str) -> None:
    path.write_text(
        f"""contexts:
  obs:
    engines: []
    sources:
      - {{kind: jaeger, url: "{jaeger}"}}
      - kind: loki
        name: logs
        url: "{loki}"
        selector: '{{job="varlogs"}}'
      - {{kind: tempo, url: "{tempo}", timeout: 1}}
"""
    )


def test_json_output_with_one_source_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    monkeypatch.setenv("OPSDECK_CONFIG", str(config))
    with serve() as double:
        double.json(
            f"/api/traces/{TRACE}", {"data": [official_fixture("jaeger/v1-trace-ui_01.json")]}
        )
        double.json("/loki/api/v1/query_range", local_fixture("loki-query_range-streams.json"))
        down = f"http://127.0.0.1:{free_port()}"
        write_config(config, double.url, double.url, down)
        code = cli.main(["correlate", f"00-{TRACE}-0000000000000002-01", "-o", "json"])
    out = capsys.readouterr().out
    data = json.loads(out)
    assert code == 4  # partly done: tempo is down
    assert data["recognised"][0]["kind"] == "traceparent"
    assert data["trace_ids"] == [TRACE]
    statuses = {s["source"]: s for s in data["sources"]}
    assert statuses["jaeger"]["status"] == "ok" and statuses["jaeger"]["items"] == 5
    assert statuses["logs"]["status"] == "ok" and statuses["logs"]["items"] == 2
    assert statuses["tempo"]["status"] == "failed"
    assert "tempo source 'tempo'" in statuses["tempo"]["error"]
    assert data["partial"] is True
    times = [item["time"] for item in data["timeline"]]
    assert times == sorted(times)
    assert {item["source"] for item in data["timeline"]} == {"jaeger", "logs"}


def test_table_output_and_unknown_source_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    monkeypatch.setenv("OPSDECK_CONFIG", str(config))
    with serve() as double:
        double.json("/loki/api/v1/query_range", local_fixture("loki-query_range-streams.json"))
        write_config(config, double.url, double.url, double.url)
        code = cli.main(["correlate", "order-42"])
    out = capsys.readouterr().out
    assert code == 0
    assert "'order-42' is ambiguous; candidates: Temporal workflow id" in out
    assert "skipped" in out and "no trace id" in out
    assert "foo" in out and "bar" in out

    config.write_text("contexts:\n  obs:\n    engines: []\n    sources:\n      - kind: zipkin\n")
    code = cli.main(["correlate", "order-42"])
    err = capsys.readouterr().err
    assert code == 2
    assert "config.yaml:5" in err and "unknown source kind 'zipkin'" in err


def test_an_id_that_finds_nothing_is_exit_1_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    monkeypatch.setenv("OPSDECK_CONFIG", str(config))
    # The documented streams response with no stream: Loki found no line.
    empty = local_fixture("loki-query_range-streams.json")
    empty["data"]["result"] = []
    with serve() as double:
        double.json("/loki/api/v1/query_range", empty)
        write_config(config, double.url, double.url, double.url)
        code = cli.main(["correlate", "nosuch-thing"])
        captured = capsys.readouterr()
        assert code == 1
        assert captured.out == ""
        (line,) = captured.err.splitlines()
        assert line.startswith("opsdeck: nothing found for 'nosuch-thing'") and "logs" in line
        code = cli.main(["correlate", "nosuch-thing", "-o", "json"])
    captured = capsys.readouterr()
    assert code == 1 and json.loads(captured.out)["found"] is False
