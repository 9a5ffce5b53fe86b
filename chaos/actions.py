"""Chaos Toolkit actions (``type: python``, ``module: chaos.actions``), each with a rollback.

Every change goes through console.actions.chaos.apply_chaos: policy (read-only,
production allow + typed title, blast radius per run) and one audit record per action
or rollback. A rollback finds what its action changed (same
process or, after a crash, the launcher's rollback process) in the action's audit
record, whose ``result`` (also in the Chaos Toolkit journal) records what it changed,
so it undoes exactly that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos import _context as ctx
from chaos._context import Configuration
from console.actions.chaos import ChaosPlan, apply_chaos
from console.errors import Unsupported, UsageError
from console.session import Session

if TYPE_CHECKING:
    from console.sandbox import SandboxState

# Each action and the rollback that undoes it (read by `opsdeck chaos validate`).
ROLLBACKS = {
    "inject_faults": "clear_faults",
    "stop_demo_worker": "start_demo_worker",
    "start_demo_orders": "stop_demo_orders",
    "set_ramping_version": "restore_ramping",
    "pause_activity": "unpause_activity",
    "publish_poison_messages": "purge_poison_messages",
    "shift_alias_weights": "restore_alias_weights",
}

__all__ = [
    "ROLLBACKS",
    "clear_faults",
    "inject_faults",
    "pause_activity",
    "publish_poison_messages",
    "purge_poison_messages",
    "restore_alias_weights",
    "restore_ramping",
    "set_ramping_version",
    "shift_alias_weights",
    "start_demo_orders",
    "start_demo_worker",
    "stop_demo_orders",
    "stop_demo_worker",
    "unpause_activity",
]


def _apply(
    configuration: Configuration,
    plan: ChaosPlan,
    do: Callable[[Session], Mapping[str, Any] | None],
    *,
    is_rollback: bool = False,
) -> dict[str, Any]:
    session, run = ctx.session_and_run(configuration)
    return dict(apply_chaos(session, plan, run, lambda: do(session), is_rollback=is_rollback))


def _recall(
    configuration: Configuration, action: str, match: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    session, run = ctx.session_and_run(configuration)
    return ctx.recall(session, run.run_id, action, match)


def _require_sandbox(session: Session, action: str) -> None:
    if not session.context.sandbox:
        raise Unsupported(
            f"{action} works on the local sandbox only; context {session.context.name!r} "
            "is not marked `sandbox: true`"
        )


# -- sandbox fault switch ---------------------------------------------------------------


def inject_faults(
    activity: str = "payment",
    failure_rate: float = 0.5,
    latency_ms: int = 0,
    configuration: Configuration = None,
) -> dict[str, Any]:
    """Make the sandbox's demo ``activity`` fail at ``failure_rate`` and/or slow down."""
    from console.sandbox import faults

    name = faults.activity_name(activity)
    data_dir = ctx.sandbox_dir(configuration)

    def do(session: Session) -> dict[str, Any]:
        _require_sandbox(session, "inject_faults")
        previous = faults.set_fault(data_dir, name, failure_rate, latency_ms)
        return {
            "activity": name,
            "fault": {"failure_rate": failure_rate, "latency_ms": latency_ms},
            "previous": previous.to_data() if previous else None,
            "switch": str(faults.faults_path(data_dir)),
        }

    plan = ChaosPlan(
        "inject_faults",
        (f"sandbox:faults/{name}",),
        {"activity": name, "failure_rate": failure_rate, "latency_ms": latency_ms},
        rollback="clear_faults",
        summary=f"{name}: fail {failure_rate:.0%} of attempts, add {latency_ms} ms",
    )
    return _apply(configuration, plan, do)


def clear_faults(activity: str = "payment", configuration: Configuration = None) -> dict[str, Any]:
    """Rollback of inject_faults: put back the fault it replaced, or clear the activity's."""
    from console.sandbox import faults

    name = faults.activity_name(activity)
    data_dir = ctx.sandbox_dir(configuration)
    injected = _recall(configuration, "inject_faults", lambda r: r.get("activity") == name)

    def do(session: Session) -> dict[str, Any]:
        previous = injected.get("previous") if injected else None
        if previous:
            faults.set_fault(data_dir, name, previous["failure_rate"], previous["latency_ms"])
            return {"activity": name, "restored": previous}
        removed = faults.clear_fault(data_dir, name)
        return {"activity": name, "removed": {k: v.to_data() for k, v in removed.items()}}

    plan = ChaosPlan("clear_faults", (f"sandbox:faults/{name}",), {"activity": name})
    return _apply(configuration, plan, do, is_rollback=True)


# -- sandbox demo workers ---------------------------------------------------------------

_WORKERS = "sandbox:demo-workers"


def stop_demo_worker(configuration: Configuration = None) -> dict[str, Any]:
    """Stop the sandbox's demo workers process (a worker outage); rollback start_demo_worker."""
    import console.sandbox as sandbox

    data_dir = ctx.sandbox_dir(configuration)

    def do(session: Session) -> dict[str, Any]:
        _require_sandbox(session, "stop_demo_worker")
        before = sandbox.stop_workers(data_dir)
        return {"stopped_pid": before.workers_pid, "was_running": before.workers_running}

    plan = ChaosPlan(
        "stop_demo_worker", (_WORKERS,), rollback="start_demo_worker", summary="stop demo workers"
    )
    return _apply(configuration, plan, do)


def start_demo_worker(configuration: Configuration = None) -> dict[str, Any]:
    """Start the demo workers again (nothing happens when they already run)."""
    import console.sandbox as sandbox

    data_dir = ctx.sandbox_dir(configuration)

    def do(session: Session) -> dict[str, Any]:
        state = sandbox.restart_workers(data_dir)
        return {"workers_pid": state.workers_pid}

    plan = ChaosPlan("start_demo_worker", (_WORKERS,))
    return _apply(configuration, plan, do, is_rollback=True)


def _sandbox_state(data_dir: Path) -> SandboxState:
    import console.sandbox as sandbox
    from console.errors import BackendUnavailable

    state = sandbox.status(data_dir)
    if state is None or not state.server_running:
        raise BackendUnavailable("sandbox", str(data_dir), "not running; run `opsdeck sandbox up`")
    return state


def start_demo_orders(
    workflow_type: str = "DemoPayment",
    count: int = 20,
    task_queue: str = "demo",
    start_signal: str | None = None,
    wait_s: float = 60.0,
    configuration: Configuration = None,
) -> dict[str, Any]:
    """Traffic for an experiment: start ``count`` sandbox workflows of ``workflow_type``
    (``start_signal`` sent with the start, e.g. ``approve`` for OrderWorkflow) and wait
    up to ``wait_s`` for them to close; the result counts them by status. The rollback
    terminates those still running."""
    import uuid

    from console.sandbox import workers

    if count < 1:
        raise UsageError("count must be at least 1")
    data_dir = ctx.sandbox_dir(configuration)
    prefix = f"chaos-{workflow_type.lower()}-{uuid.uuid4().hex[:8]}"
    ids = [f"{prefix}-{i:03d}" for i in range(count)]

    def do(session: Session) -> dict[str, Any]:
        _require_sandbox(session, "start_demo_orders")
        state = _sandbox_state(data_dir)
        counts = ctx.run(
            workers.start_orders(
                state.address,
                state.namespace,
                workflow_type,
                ids,
                task_queue,
                start_signal=start_signal,
                wait_s=float(wait_s),
            )
        )
        return {"workflow_type": workflow_type, "workflow_ids": ids, "counts": counts}

    plan = ChaosPlan(
        "start_demo_orders",
        (f"sandbox:workflows/{workflow_type}",),
        {"workflow_type": workflow_type, "count": count, "task_queue": task_queue},
        rollback="stop_demo_orders",
        summary=f"start {count} {workflow_type} on {task_queue}",
    )
    return _apply(configuration, plan, do)


def stop_demo_orders(
    workflow_type: str = "DemoPayment", configuration: Configuration = None
) -> dict[str, Any]:
    """Rollback of start_demo_orders: terminate this run's workflows still running."""
    from console.sandbox import workers

    data_dir = ctx.sandbox_dir(configuration)
    started: list[str] = []

    def same(result: dict[str, Any]) -> bool:
        return bool(result.get("workflow_type") == workflow_type)

    while entry := _recall(configuration, "start_demo_orders", same):
        started += entry["workflow_ids"]

    def do(session: Session) -> dict[str, Any]:
        if not started:
            return {"workflow_type": workflow_type, "terminated": []}
        state = _sandbox_state(data_dir)
        reason = "opsdeck chaos rollback"
        done = ctx.run(workers.terminate_running(state.address, state.namespace, started, reason))
        return {"workflow_type": workflow_type, "terminated": done}

    plan = ChaosPlan("stop_demo_orders", (f"sandbox:workflows/{workflow_type}",))
    return _apply(configuration, plan, do, is_rollback=True)


# -- Temporal worker deployments and activities -----------------------------------------


def _engine_with(session: Session, port: type, engine: str | None, what: str) -> Any:
    for name, candidate in session.engines.items():
        if (engine is None or name == engine) and isinstance(candidate, port):
            return candidate
    which = f"engine {engine!r}" if engine else "no engine"
    raise Unsupported(f"{which} in context {session.context.name!r} supports {what}")


def _engine_name(configuration: Configuration, port: type, engine: str | None) -> str:
    """The name of the engine an action will use, for its target (audit, blast radius)."""
    session, _ = ctx.session_and_run(configuration)
    try:
        return str(_engine_with(session, port, engine, "it").name)
    except Unsupported:
        return engine or "-"  # do() fails with the sentence, audited


def set_ramping_version(
    deployment: str,
    version: str,
    percentage: float,
    engine: str | None = None,
    configuration: Configuration = None,
) -> dict[str, Any]:
    """Ramp build ``version`` of worker ``deployment`` to ``percentage`` % of new work."""
    from console.ports_chaos import RampingVersions

    def do(session: Session) -> dict[str, Any]:
        target = _engine_with(session, RampingVersions, engine, "worker-deployment ramping")
        before = ctx.run(target.set_ramping(deployment, version, float(percentage)))
        return {"deployment": deployment, "engine": target.name, "previous": before.to_data()}

    plan = ChaosPlan(
        "set_ramping_version",
        (f"{_engine_name(configuration, RampingVersions, engine)}:deployment/{deployment}",),
        {"deployment": deployment, "version": version, "percentage": percentage},
        rollback="restore_ramping",
        summary=f"ramp {deployment} {version} to {percentage}%",
    )
    return _apply(configuration, plan, do)


def restore_ramping(
    deployment: str, engine: str | None = None, configuration: Configuration = None
) -> dict[str, Any]:
    """Rollback of set_ramping_version: the ramp (or no ramp) recorded before it."""
    from console.ports_chaos import RampingVersions

    changed = _recall(configuration, "set_ramping_version", lambda r: r["deployment"] == deployment)

    def do(session: Session) -> dict[str, Any]:
        if changed is None:
            return {"deployment": deployment, "restored": None, "note": "nothing ramped this run"}
        target = _engine_with(session, RampingVersions, changed["engine"], "ramping")
        previous = changed["previous"]
        ctx.run(target.set_ramping(deployment, previous["ramping"], previous["percentage"]))
        return {"deployment": deployment, "restored": previous}

    name = changed["engine"] if changed else _engine_name(configuration, RampingVersions, engine)
    plan = ChaosPlan("restore_ramping", (f"{name}:deployment/{deployment}",))
    return _apply(configuration, plan, do, is_rollback=True)


def pause_activity(
    workflow_id: str,
    activity_type: str,
    engine: str | None = None,
    configuration: Configuration = None,
) -> dict[str, Any]:
    """Pause an activity of a running workflow (Temporal PauseActivity)."""
    from console.ports_chaos import ActivityPause

    def do(session: Session) -> dict[str, Any]:
        target = _engine_with(session, ActivityPause, engine, "activity pause")
        ctx.run(target.pause_activity(workflow_id, activity_type, "opsdeck chaos experiment"))
        return {"workflow_id": workflow_id, "activity_type": activity_type, "engine": target.name}

    name = _engine_name(configuration, ActivityPause, engine)
    plan = ChaosPlan(
        "pause_activity",
        (f"{name}:{workflow_id}/activity/{activity_type}",),
        {"workflow_id": workflow_id, "activity_type": activity_type},
        rollback="unpause_activity",
        summary=f"pause {activity_type} of {workflow_id}",
    )
    return _apply(configuration, plan, do)


def unpause_activity(
    workflow_id: str,
    activity_type: str,
    engine: str | None = None,
    configuration: Configuration = None,
) -> dict[str, Any]:
    from console.ports_chaos import ActivityPause

    def do(session: Session) -> dict[str, Any]:
        target = _engine_with(session, ActivityPause, engine, "activity pause")
        ctx.run(target.unpause_activity(workflow_id, activity_type))
        return {"workflow_id": workflow_id, "activity_type": activity_type}

    name = _engine_name(configuration, ActivityPause, engine)
    plan = ChaosPlan("unpause_activity", (f"{name}:{workflow_id}/activity/{activity_type}",))
    return _apply(configuration, plan, do, is_rollback=True)


# -- dead-letter / work queues ----------------------------------------------------------


def _queue_backend(session: Session, backend: str | None) -> Any:
    from console.actions.drain_service import pick_queue_backend, session_queues
    from console.ports_chaos import MessagePublisher

    picked = pick_queue_backend(session_queues(session), backend, session.context.name)
    if not isinstance(picked, MessagePublisher):
        raise Unsupported(f"queue backend {picked.name!r} ({picked.kind}) cannot publish")
    return picked


def _backend_name(configuration: Configuration, backend: str | None) -> str:
    session, _ = ctx.session_and_run(configuration)
    try:
        return str(_queue_backend(session, backend).name)
    except (Unsupported, UsageError):
        return backend or "-"  # do() fails with the sentence, audited


def publish_poison_messages(
    queue: str,
    count: int = 1,
    backend: str | None = None,
    body: str = '{"poison": true}',
    configuration: Configuration = None,
) -> dict[str, Any]:
    """Publish ``count`` unprocessable messages to ``queue``; their ids go in the result."""
    if count < 1:
        raise UsageError("count must be at least 1")

    def do(session: Session) -> dict[str, Any]:
        picked = _queue_backend(session, backend)
        ids = ctx.run(asyncio.to_thread(picked.publish_sync, queue, body.encode(), count))
        return {"queue": queue, "backend": picked.name, "message_ids": ids}

    plan = ChaosPlan(
        "publish_poison_messages",
        (f"{_backend_name(configuration, backend)}:{queue}",),
        {"queue": queue, "count": count},
        rollback="purge_poison_messages",
        summary=f"publish {count} poison message(s) to {queue}",
    )
    return _apply(configuration, plan, do)


def purge_poison_messages(
    queue: str,
    backend: str | None = None,
    parked_in: str | None = None,
    configuration: Configuration = None,
) -> dict[str, Any]:
    """Rollback: remove exactly the messages this run published to ``queue``, and those
    of them a drain moved on to ``parked_in`` (its parking queue: same message ids)."""
    published: list[str] = []
    while entry := _recall(configuration, "publish_poison_messages", lambda r: r["queue"] == queue):
        published += entry["message_ids"]

    def do(session: Session) -> dict[str, Any]:
        picked = _queue_backend(session, backend)
        removed = ctx.run(asyncio.to_thread(picked.remove_ids_sync, queue, set(published)))
        result = {"queue": queue, "removed": removed, "published": len(published)}
        if parked_in:
            left = set(published) - set(removed)
            parked = ctx.run(asyncio.to_thread(picked.remove_ids_sync, parked_in, left))
            result["removed_parked"] = parked
        return result

    targets = [f"{_backend_name(configuration, backend)}:{q}" for q in (queue, parked_in) if q]
    plan = ChaosPlan("purge_poison_messages", tuple(targets), {"queue": queue})
    return _apply(configuration, plan, do, is_rollback=True)


# -- Step Functions aliases -------------------------------------------------------------


def shift_alias_weights(
    state_machine: str,
    alias: str,
    weights: Mapping[str, int],
    engine: str | None = None,
    configuration: Configuration = None,
) -> dict[str, Any]:
    """Route a Step Functions alias by ``weights`` ({version: percent}, e.g. {"3": 90, "4": 10})."""
    from console.ports_chaos import AliasWeights

    routing = {str(k): int(v) for k, v in weights.items()}

    def do(session: Session) -> dict[str, Any]:
        target = _engine_with(session, AliasWeights, engine, "alias weights")
        before = ctx.run(target.set_alias_weights(state_machine, alias, routing))
        return {
            "state_machine": state_machine,
            "alias": alias,
            "engine": target.name,
            "weights": routing,
            "previous": before,
        }

    plan = ChaosPlan(
        "shift_alias_weights",
        (f"{_engine_name(configuration, AliasWeights, engine)}:{state_machine}/alias/{alias}",),
        {"state_machine": state_machine, "alias": alias, "weights": routing},
        rollback="restore_alias_weights",
        summary=f"route {state_machine}:{alias} by {routing}",
    )
    return _apply(configuration, plan, do)


def restore_alias_weights(
    state_machine: str, alias: str, engine: str | None = None, configuration: Configuration = None
) -> dict[str, Any]:
    """Rollback of shift_alias_weights: the routing recorded before it."""
    from console.ports_chaos import AliasWeights

    def same(r: dict[str, Any]) -> bool:
        return bool(r["state_machine"] == state_machine and r["alias"] == alias)

    changed = _recall(configuration, "shift_alias_weights", same)

    def do(session: Session) -> dict[str, Any]:
        if changed is None:
            return {"alias": alias, "restored": None, "note": "nothing shifted this run"}
        target = _engine_with(session, AliasWeights, changed["engine"], "alias weights")
        ctx.run(target.set_alias_weights(state_machine, alias, changed["previous"]))
        return {"state_machine": state_machine, "alias": alias, "restored": changed["previous"]}

    name = changed["engine"] if changed else _engine_name(configuration, AliasWeights, engine)
    plan = ChaosPlan("restore_alias_weights", (f"{name}:{state_machine}/alias/{alias}",))
    return _apply(configuration, plan, do, is_rollback=True)
