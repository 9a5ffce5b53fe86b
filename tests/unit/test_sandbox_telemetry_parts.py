"""`sandbox up`'s telemetry part: what cannot start is named on one line, never fatal."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.sandbox import SandboxState
from console.sandbox import telemetry as parts


def state(tmp_path: Path) -> SandboxState:
    return SandboxState(str(tmp_path), 0, 0, 1, 2, 3, 4, worker_metrics_port=0)


def test_missing_parts_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(parts.shutil, "which", lambda name: None)

    def broken(*args: object) -> dict[str, object]:
        raise RuntimeError("port taken")

    monkeypatch.setattr(parts, "_start_stores", broken)
    info = parts.try_up(tmp_path, state(tmp_path))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("Sandbox telemetry incomplete: ")
    assert "traced demo workers" in err and "demo trace/log stores (port taken)" in err
    assert "prometheus (not installed" in err
    assert parts.sources(info) == []
    assert "not running" in parts.summary(parts.status(tmp_path))


def test_stores_start_and_stop_without_prometheus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(parts.shutil, "which", lambda name: None)
    info = parts.try_up(tmp_path, state(tmp_path))
    try:
        assert info["stores_running"]
        assert [s["kind"] for s in parts.sources(info)] == ["jaeger", "loki"]
        assert parts.status(tmp_path)["stores_running"]
        assert "prometheus" in capsys.readouterr().err
    finally:
        assert parts.down(tmp_path)
    assert not parts.status(tmp_path)["stores_running"]
