"""Grouping and verdicts on made-up failures: each rule of docs/triage.md, its numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console.model import Execution, ExecutionRef, ExecutionStatus
from console.model_triage import FailureKind, ObservedFailure
from console.triage.groups import (
    SYSTEMIC,
    TRANSIENT,
    FailureGroup,
    TriageThresholds,
    group_failures,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=1)


def failure(
    n: int,
    minutes_ago: float,
    *,
    version: str | None = "orders:v3",
    message: str | None = None,
    healed: bool = False,
    workflow_type: str = "OrderWorkflow",
    error_type: str = "ApplicationError",
    activity: str | None = None,
) -> ObservedFailure:
    ref = ExecutionRef("temporal", "default", f"order-{n}", f"run-{n}")
    execution = Execution(ref, workflow_type, ExecutionStatus.FAILED)
    return ObservedFailure(
        execution=execution,
        kind=FailureKind.ACTIVITY if healed or activity else FailureKind.EXECUTION,
        error_type=error_type,
        message=message or f"order order-{n}: cannot price {n * 7} items",
        time=NOW - timedelta(minutes=minutes_ago),
        activity_type="price" if healed else activity,
        attempt=2 if healed else None,
        retried_through=healed,
        version=version,
    )


def groups(*failures: ObservedFailure, **kw: object) -> list[FailureGroup]:
    return group_failures(failures, since=SINCE, now=NOW, **kw)  # type: ignore[arg-type]


def other_version_noise() -> ObservedFailure:
    """A different fault on another version: the failures seen span two versions."""
    return failure(999, 30, version="orders:v2", error_type="Other", message="other")


def test_rising_and_concentrated_names_the_numbers() -> None:
    items = [failure(n, 2 + n * 0.5) for n in range(9)]
    items += [failure(100 + n, 30 + n * 5) for n in range(3)]
    (bad, noise) = groups(*items, other_version_noise())
    assert bad.verdict == SYSTEMIC and bad.count == 12 and len(bad.executions) == 12
    assert bad.reason == (
        "systemic: 12 executions, all on orders:v3, 9 in the last 10 min vs 3 before (rising)"
    )
    assert bad.signature.message == "order <id>: cannot price <n> items"
    assert bad.versions == ("orders:v3",)
    assert bad.first_seen == NOW - timedelta(minutes=40)
    assert bad.last_seen == NOW - timedelta(minutes=2)
    assert bad.executions[0].workflow_id == "order-0"  # newest failure first
    assert noise.verdict == TRANSIENT


def test_spread_out_over_versions_is_transient() -> None:
    items = [failure(n, 5 + n * 9, version="orders:v2" if n % 2 else "orders:v3") for n in range(6)]
    by_version = {g.signature.version: g for g in groups(*items)}
    v3 = by_version["orders:v3"]
    assert v3.verdict == TRANSIENT
    assert v3.reason.startswith("transient: few, 3 executions failing, 3 on orders:v3 vs 3 on")


def test_one_version_holding_most_of_a_fault_is_systemic() -> None:
    items = [failure(n, 50 - n) for n in range(9)]  # steady over time: not rising
    items.append(failure(50, 45, version="orders:v2"))
    v3 = next(g for g in groups(*items) if g.signature.version == "orders:v3")
    assert v3.verdict == SYSTEMIC
    assert "9 on orders:v3 vs 1 on other versions" in v3.reason


def test_steady_trickle_on_one_build_namespace_is_transient() -> None:
    """Everything runs one build: "all on it" says nothing, nor does a steady rate."""
    items = [failure(n, 55 - n * 10) for n in range(6)]
    (group,) = groups(*items)
    assert group.verdict == TRANSIENT
    assert group.reason == (
        "transient: 6 executions spread out, 1 in the last 10 min vs 5 before "
        "(not concentrated in one version, not rising)"
    )


def test_retried_through_is_transient_and_healed_runs_do_not_count() -> None:
    healed = [failure(n, 10 + n, healed=True, message="connection reset") for n in range(8)]
    (group,) = groups(*healed)
    assert group.verdict == TRANSIENT
    assert group.reason == (
        "transient: 8 executions, all retried through (a later attempt succeeded)"
    )
    assert group.retried_through == 8 and group.kinds == ("activity",)
    mixed = healed[:6] + [
        failure(200 + n, 3, message="connection reset", activity="price") for n in range(2)
    ]
    (group,) = groups(*mixed)
    assert group.reason.startswith("transient: few, 2 executions failing, 6 retried through")


def test_many_is_systemic_whatever_the_spread() -> None:
    limits = TriageThresholds(always_systemic=10)
    items = [failure(n, 59 - n * 2, version=None) for n in range(10)]
    (group,) = groups(*items, thresholds=limits)
    assert group.verdict == SYSTEMIC
    assert group.reason.startswith("systemic: 10 executions, ")


def test_few_runs_that_mostly_fail_are_systemic() -> None:
    items = [failure(n, 2) for n in range(3)]
    runs = {("temporal", "OrderWorkflow"): 4}
    (group,) = groups(*items, runs_by_type=runs)
    assert group.verdict == SYSTEMIC
    assert group.reason.endswith("3 of 4 OrderWorkflow runs read")
    (few,) = groups(*items, runs_by_type={("temporal", "OrderWorkflow"): 40})
    assert few.verdict == TRANSIENT


def test_whole_window_recent_many_is_systemic() -> None:
    items = [failure(n, 1) for n in range(5)]
    (group,) = group_failures(items, since=NOW - timedelta(minutes=5), now=NOW)
    assert group.verdict == SYSTEMIC
    assert group.reason == "systemic: 5 executions, all 5 in the last 5 min"


def test_sorted_systemic_first_then_by_executions() -> None:
    lone = failure(1, 3, workflow_type="A", version=None, message="a")
    pair = [failure(n, 3, workflow_type="B", version=None, message="b") for n in (2, 3)]
    storm = [failure(n, 1, workflow_type="C", version=None, message="c") for n in range(10, 16)]
    order = [g.signature.workflow_type for g in groups(lone, *pair, *storm)]
    assert order == ["C", "B", "A"]


def test_signature_text() -> None:
    (group,) = groups(failure(1, 1))
    assert str(group.signature) == (
        "temporal: OrderWorkflow: ApplicationError: order <id>: cannot price <n> items on orders:v3"
    )
