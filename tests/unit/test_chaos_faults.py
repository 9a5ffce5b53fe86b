"""The sandbox fault switch file, the chaos run ledger, and the PauseActivity refusal."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from adapters.temporal_chaos import _unsupported
from chaos import _context as ctx
from console.errors import BackendError, Unsupported, UsageError
from console.sandbox import faults


def test_set_and_clear_round_trip_with_the_payment_alias(tmp_path: Path) -> None:
    assert faults.set_fault(tmp_path, "payment", 0.5, 200) is None
    assert faults.read_faults(tmp_path / "faults.json") == {"charge_card": faults.Fault(0.5, 200)}
    assert faults.set_fault(tmp_path, "charge_card", 1.0) == faults.Fault(0.5, 200)
    faults.set_fault(tmp_path, "other", latency_ms=10)
    assert faults.clear_fault(tmp_path, "payment") == {"charge_card": faults.Fault(1.0, 0)}
    assert faults.clear_fault(tmp_path, "payment") == {}
    assert faults.clear_fault(tmp_path) == {"other": faults.Fault(0.0, 10)}
    assert faults.read_faults(tmp_path / "faults.json") == {}


@pytest.mark.parametrize(
    ("rate", "latency"), [(1.5, 0), (-0.1, 0), (True, 0), (0.5, -1), (0.5, 1.5), ("x", 0)]
)
def test_bad_values_are_refused(tmp_path: Path, rate: object, latency: object) -> None:
    with pytest.raises(UsageError):
        faults.set_fault(tmp_path, "payment", rate, latency)  # type: ignore[arg-type]


def test_a_broken_switch_file_means_no_faults(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    assert faults.read_faults(path) == {}
    path.write_text("{not json")
    assert faults.read_faults(path) == {}
    path.write_text('{"a": {"failure_rate": 9}, "b": {"latency_ms": 5}, "c": 1}')
    assert faults.read_faults(path) == {"b": faults.Fault(0.0, 5)}


def test_draw_follows_the_rate() -> None:
    rng = random.Random(7)
    assert not any(faults.draw(faults.Fault(0.0), rng) for _ in range(100))
    assert all(faults.draw(faults.Fault(1.0), rng) for _ in range(100))
    hits = sum(faults.draw(faults.Fault(0.3), rng) for _ in range(2000))
    assert 500 < hits < 700


def test_ledger_recalls_the_newest_match_once() -> None:
    ctx.remember("r1", "publish", {"queue": "a", "n": 1})
    ctx.remember("r1", "publish", {"queue": "b", "n": 2})
    ctx.remember("r1", "publish", {"queue": "a", "n": 3})
    assert ctx.recall("r1", "publish", lambda r: r["queue"] == "a") == {"queue": "a", "n": 3}
    assert ctx.recall("r1", "publish", lambda r: r["queue"] == "a") == {"queue": "a", "n": 1}
    assert ctx.recall("r1", "publish", lambda r: r["queue"] == "a") is None
    assert ctx.recall("r2", "publish", lambda r: True) is None


def test_run_id_is_one_per_process_without_the_launcher() -> None:
    assert ctx.run_id(None) == ctx.run_id({}) == ctx.run_id({"opsdeck_run_id": ""})
    assert ctx.run_id({"opsdeck_run_id": "launch-1"}) == "launch-1"


def test_a_server_without_the_activity_api_is_named_as_such() -> None:
    error = _unsupported(
        BackendError("Unimplemented: method PauseActivity"), "PauseActivity", "h:1"
    )
    assert isinstance(error, Unsupported) and "does not support PauseActivity" in str(error)
    other = BackendError("workflow not found")
    assert _unsupported(other, "PauseActivity", "h:1") is other
