"""The Temporal drills: a stuck activity storm, a bad deploy, a task queue losing its workers.

Every workflow a drill starts has an id beginning with the drill's token, so its checks
count the drill's own executions only, beside the sandbox's seeded demo workflows.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from console.drills import temporal_ops as ops
from console.drills.model import CheckResult, Drill, DrillEnv, Injected
from console.model import StuckRule, StuckRules

DEMO_QUEUE = "demo"
ORDERS = "orders"
BAD_BUILD = "v3"
GOOD_BUILDS = ("v1", "v2")
# The scan the storm's check runs: any drill execution whose activity is retrying.
STORM_RULES = StuckRules(activity_attempts=2, enabled=frozenset({StuckRule.ACTIVITY_RETRYING}))
NO_POLLERS = StuckRules(enabled=frozenset({StuckRule.NO_POLLERS}))
DRILL_IDENTITY = "drill: an earlier deploy"  # who the server records for the injection


def _ids(env: DrillEnv, kind: str, count: int) -> list[str]:
    return [f"{env.token}-{kind}-{i:03d}" for i in range(count)]


def _prefix(env: DrillEnv) -> str:
    return f"{env.token}-"


def _running(env: DrillEnv, injected: Injected) -> CheckResult:
    total = len(injected["workflow_ids"])
    running = ops.count_running(env.sandbox, _prefix(env))
    return CheckResult(
        "running",
        running == 0,
        f"{running} of {total} drill executions still running"
        if running
        else f"none of the {total} drill executions is running",
        {"running": running, "total": total},
    )


# -- 1. stuck activity storm ------------------------------------------------------------


def inject_storm(env: DrillEnv, count: int) -> Injected:
    ids = _ids(env, "stuck", count)
    ops.start_workflows(env.sandbox, "DemoStuckActivity", ids, DEMO_QUEUE)
    return {"workflow_ids": ids, "workflow_type": "DemoStuckActivity", "query": _query(env)}


def _query(env: DrillEnv) -> str:
    return ops.prefix_query(_prefix(env))


def check_storm(env: DrillEnv, injected: Injected) -> list[CheckResult]:
    total = len(injected["workflow_ids"])
    stuck = ops.stuck_ids(env.sandbox, _prefix(env), STORM_RULES)
    results = [
        CheckResult(
            "stuck",
            not stuck,
            f"{len(stuck)} of {total} drill executions stuck "
            f"(activity_retrying, attempt >= {STORM_RULES.activity_attempts})"
            if stuck
            else "the stuck scan finds none of the drill's executions",
            {"stuck": len(stuck), "total": total},
        )
    ]
    # Not yet at the attempt threshold is not resolved either: still retrying.
    results.append(_running(env, injected))
    return results


def cleanup_storm(env: DrillEnv, injected: Injected, resolved: bool) -> dict[str, Any]:
    done = ops.terminate(env.sandbox, injected["workflow_ids"], "opsdeck drill stopped")
    return {"terminated": done}


STUCK_STORM = Drill(
    name="stuck-activity-storm",
    title="Stuck activity storm",
    injects="N orders whose payment-gateway activity fails on every attempt, retrying forever",
    runbook="stuck-workflows",
    hints=(
        'Find them: `opsdeck executions stuck --query "{query}"` (or `:stuck` in the TUI).',
        "Read the evidence: the last failure is the gateway's (GatewayTimeout), not our code.",
        "The gateway stays down for this drill: a retry resets them onto the same failure, "
        "so the runbook's verify step finds them stuck again.",
        "Resolve: terminate them with a reason, e.g. "
        "`opsdeck executions terminate --query \"{query}\" --reason 'gateway down' --yes`.",
    ),
    checks=(
        "the stuck scan (activity_retrying) finds none of the drill's executions",
        "none of the drill's executions is still running",
    ),
    default_count=5,
    inject=inject_storm,
    check=check_storm,
    cleanup=cleanup_storm,
)


# -- 2. bad deploy to a new version -----------------------------------------------------


def inject_bad_deploy(env: DrillEnv, count: int) -> Injected:
    before = ops.make_current(env.sandbox, ORDERS, BAD_BUILD, DRILL_IDENTITY)
    ids = _ids(env, "order", count)
    # The orders land on v3 and fail at once; wait for that, so the failures are visible.
    counts = ops.start_workflows(
        env.sandbox, "OrderWorkflow", ids, ORDERS, start_signal="approve", wait_s=20.0
    )
    return {
        "deployment": ORDERS,
        "bad_build": BAD_BUILD,
        "before": before,
        "workflow_ids": ids,
        "counts": counts,
        "query": _query(env),
    }


def check_bad_deploy(env: DrillEnv, injected: Injected) -> list[CheckResult]:
    routing = ops.routing(env.sandbox, ORDERS)
    current, ramping = routing["current"], routing["ramping"]
    numbers = {"current": current, "ramping": ramping, "percentage": routing["percentage"]}
    good = current in GOOD_BUILDS
    return [
        CheckResult(
            "current",
            good,
            f"deployment {ORDERS}: current version is {current or 'none'}"
            + (" (the bad build)" if current == BAD_BUILD else "")
            + f", expected one of {', '.join(GOOD_BUILDS)}"
            if not good
            else f"deployment {ORDERS}: current version {current}",
            numbers,
        ),
        CheckResult(
            "ramping",
            ramping != BAD_BUILD,
            f"deployment {ORDERS}: {BAD_BUILD} still ramping at {routing['percentage']:g}%"
            if ramping == BAD_BUILD
            else f"deployment {ORDERS}: {BAD_BUILD} is not ramping",
            numbers,
        ),
    ]


def cleanup_bad_deploy(env: DrillEnv, injected: Injected, resolved: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "terminated": ops.terminate(env.sandbox, injected["workflow_ids"], "opsdeck drill stopped")
    }
    routing = ops.routing(env.sandbox, ORDERS)
    previous = (injected.get("before") or {}).get("current") or GOOD_BUILDS[-1]
    if not resolved and BAD_BUILD in (routing["current"], routing["ramping"]):
        ops.make_current(env.sandbox, ORDERS, previous, "opsdeck drill stop")
        out["restored_current"] = previous
    return out


BAD_DEPLOY = Drill(
    name="bad-deploy",
    title="Bad deploy to a new version",
    injects="build v3 of worker deployment `orders` made current; every new order on it fails",
    runbook="bad-deploy-rollback",
    hints=(
        "See the failures by version: `opsdeck executions list --status failed --type "
        "OrderWorkflow` (the BUILD column) and `opsdeck versions list orders`.",
        "Follow the runbook: `opsdeck runbook run bad-deploy-rollback` (decide: rollback).",
        "Or roll back directly: `opsdeck versions rollback orders --to v2` (the version "
        "current before v3), then check that new orders run on it.",
    ),
    checks=(
        f"the current version of `{ORDERS}` is a good build ({', '.join(GOOD_BUILDS)})",
        f"{BAD_BUILD} is not ramping",
    ),
    default_count=3,
    inject=inject_bad_deploy,
    check=check_bad_deploy,
    cleanup=cleanup_bad_deploy,
)


# -- 4. a task queue losing its workers -------------------------------------------------


def inject_worker_loss(env: DrillEnv, count: int) -> Injected:
    import console.sandbox as sandbox

    before = sandbox.stop_workers(env.data_dir)
    stopped_at = time.time()
    ids = _ids(env, "tq", count)
    ops.start_workflows(env.sandbox, "DemoCompleted", ids, DEMO_QUEUE)
    return {
        "task_queue": DEMO_QUEUE,
        "workflow_ids": ids,
        "stopped_pid": before.workers_pid,
        "stopped_at": stopped_at,
        "query": _query(env),
    }


def _workers_running(data_dir: Path) -> bool:
    import console.sandbox as sandbox

    state = sandbox.status(data_dir)
    return bool(state is not None and state.workers_running)


def check_worker_loss(env: DrillEnv, injected: Injected) -> list[CheckResult]:
    queue = injected["task_queue"]
    polling = _workers_running(env.data_dir)
    results = [
        CheckResult(
            "workers",
            polling,
            f"the sandbox's demo workers are running (task queue {queue})"
            if polling
            else f"the sandbox's demo workers are not running: nothing polls task queue {queue}",
            {"workers_running": polling},
        )
    ]
    waiting = ops.stuck_ids(env.sandbox, _prefix(env), NO_POLLERS)
    total = len(injected["workflow_ids"])
    results.append(
        CheckResult(
            "no_pollers",
            not waiting,
            f"{len(waiting)} of {total} drill executions wait on {queue} with no pollers"
            if waiting
            else "the stuck scan finds no drill execution waiting without pollers",
            {"no_pollers": len(waiting), "total": total},
        )
    )
    backlog = _running(env, injected)  # the backlog drained: every drill execution done
    results.append(
        CheckResult(
            "backlog",
            backlog.ok,
            backlog.detail,
            backlog.numbers,
        )
    )
    return results


def cleanup_worker_loss(env: DrillEnv, injected: Injected, resolved: bool) -> dict[str, Any]:
    import console.sandbox as sandbox

    out: dict[str, Any] = {}
    if not _workers_running(env.data_dir):
        out["workers_pid"] = sandbox.restart_workers(env.data_dir).workers_pid
    out["terminated"] = ops.terminate(
        env.sandbox, injected["workflow_ids"], "opsdeck drill stopped"
    )
    return out


WORKER_LOSS = Drill(
    name="worker-loss",
    title="A task queue losing its workers",
    injects="the sandbox's demo workers stopped; N orders wait on task queue `demo`",
    runbook="task-queue-no-workers",
    hints=(
        "Find the waiting work: `opsdeck executions stuck --rule no_pollers`.",
        "Temporal keeps listing gone pollers for minutes: trust the stuck rule (a task "
        "waits and nobody polled since), not the poller list alone.",
        "Start the workers again: `opsdeck sandbox up` restarts what stopped.",
        "Then watch the backlog drain: the drill's orders complete.",
    ),
    checks=(
        "the sandbox's demo workers run (task queue `demo` has pollers)",
        "the stuck scan (no_pollers) finds none of the drill's executions",
        "the backlog drained: none of the drill's executions is still running",
    ),
    default_count=3,
    inject=inject_worker_loss,
    check=check_worker_loss,
    cleanup=cleanup_worker_loss,
)
