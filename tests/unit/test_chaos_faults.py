"""The sandbox fault switch file, rollbacks' recall from the audit, the PauseActivity refusal."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest

from adapters.temporal_chaos import _unsupported
from chaos import _context as ctx
from console.actions.chaos import ChaosPlan, ChaosRun, apply_chaos
from console.audit import AuditJournal
from console.config import Config, Context
from console.errors import BackendError, Unsupported, UsageError
from console.sandbox import faults
from console.session import Session


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


def test_recall_takes_the_newest_ok_match_from_the_audit_once(tmp_path: Path) -> None:
    context = Context(name="dev", engines=())
    config = Config(path=tmp_path / "c.yaml", contexts={"dev": context}, identity="ci")
    session = Session(config, context, {}, audit=AuditJournal(tmp_path / "audit.db"))
    run = ChaosRun("r1", "exp")

    def publish(queue: str, n: int, fail: bool = False) -> None:
        def do() -> dict[str, object]:
            if fail:
                raise RuntimeError("broker down")
            return {"queue": queue, "n": n}

        plan = ChaosPlan("publish", (f"q:{queue}",), rollback="purge")
        with contextlib.suppress(RuntimeError):
            apply_chaos(session, plan, run, do)

    publish("a", 1)
    publish("b", 2)
    publish("a", 3)
    publish("a", 4, fail=True)  # failed: nothing to undo
    a = lambda r: r["queue"] == "a"  # noqa: E731
    assert ctx.recall(session, "r1", "publish", a) == {"queue": "a", "n": 3}
    assert ctx.recall(session, "r1", "publish", a) == {"queue": "a", "n": 1}
    assert ctx.recall(session, "r1", "publish", a) is None
    assert ctx.recall(session, "r2", "publish", lambda r: True) is None


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
