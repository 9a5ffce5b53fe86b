"""console.actions.chaos: policy (read-only, production, blast radius) and one audit
record per chaos action or rollback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from console.actions.chaos import ChaosPlan, ChaosRun, apply_chaos, chaos_settings
from console.audit import AuditJournal
from console.config import Config, Context
from console.errors import ConfigError, PolicyDenied
from console.session import Session


def session(tmp_path: Path, **context: Any) -> Session:
    ctx = Context(name=context.pop("name", "dev"), engines=(), **context)
    config = Config(path=tmp_path / "config.yaml", contexts={ctx.name: ctx}, identity="ci")
    return Session(config, ctx, {}, audit=AuditJournal(tmp_path / "audit.db"))


def plan(*targets: str) -> ChaosPlan:
    return ChaosPlan("stop_demo_worker", targets, {"worker": "demo"}, "start_demo_worker")


def test_action_and_rollback_each_write_one_record(tmp_path: Path) -> None:
    s = session(tmp_path)
    run = ChaosRun("run-1", "worker-loss")
    assert apply_chaos(s, plan("sandbox:demo"), run, lambda: {"stopped": 1}) == {"stopped": 1}
    apply_chaos(s, plan("sandbox:demo"), run, lambda: None, is_rollback=True)
    records = list(reversed(s.audit.list(request_id="run-1")))
    assert [(r.action, r.outcome) for r in records] == [
        ("chaos.stop_demo_worker", "ok"),
        ("chaos.rollback.stop_demo_worker", "ok"),
    ]
    assert records[0].run_id == "run-1" and records[0].parameters["experiment"] == "worker-loss"


def test_a_failing_action_is_recorded_failed_and_raised(tmp_path: Path) -> None:
    s = session(tmp_path)

    def boom() -> None:
        raise RuntimeError("worker would not stop")

    with pytest.raises(RuntimeError):
        apply_chaos(s, plan("sandbox:demo"), ChaosRun("run-2", "x"), boom)
    (record,) = s.audit.list(request_id="run-2")
    assert record.outcome == "failed" and "would not stop" in record.message


def test_read_only_and_production_refuse_but_rollbacks_pass(tmp_path: Path) -> None:
    calls: list[str] = []
    for kwargs in ({"read_only": True}, {"production": True}):
        s = session(tmp_path / str(len(calls)), **kwargs)
        with pytest.raises(PolicyDenied):
            apply_chaos(s, plan("t"), ChaosRun("r", "x"), lambda: calls.append("x"))  # type: ignore[func-returns-value]
        apply_chaos(s, plan("t"), ChaosRun("r", "x"), lambda: calls.append("rb"), is_rollback=True)  # type: ignore[func-returns-value]
    assert calls == ["rb", "rb"]


def test_production_needs_allowed_and_the_typed_title(tmp_path: Path) -> None:
    s = session(tmp_path, production=True, extra={"chaos": {"allowed": True}})
    with pytest.raises(PolicyDenied, match="type the experiment title 'worker-loss'"):
        apply_chaos(s, plan("t"), ChaosRun("r", "worker-loss"), lambda: None)
    apply_chaos(s, plan("t"), ChaosRun("r", "worker-loss", confirmed="worker-loss"), lambda: None)


def test_blast_radius_counts_the_whole_run(tmp_path: Path) -> None:
    s = session(tmp_path, extra={"chaos": {"max-targets": 2}})
    run = ChaosRun("r", "x")
    apply_chaos(s, plan("a", "b"), run, lambda: None)
    apply_chaos(s, plan("a"), run, lambda: None)  # the same target again: still 2
    with pytest.raises(PolicyDenied, match=r"blast radius.*3 targets.*cap of 2"):
        apply_chaos(s, plan("c"), run, lambda: None)


def test_malformed_chaos_settings_name_the_field() -> None:
    for raw, message in (
        ("yes", "contexts.dev.chaos: must be a mapping"),
        ({"max-targets": 0}, "contexts.dev.chaos.max-targets: must be a whole number"),
        ({"allow": True}, "contexts.dev.chaos: unknown key 'allow'"),
    ):
        with pytest.raises(ConfigError, match=message):
            chaos_settings(Context(name="dev", engines=(), extra={"chaos": raw}))
