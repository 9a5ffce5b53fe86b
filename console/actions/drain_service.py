"""Queue backends of a context and a drain run with its policy decision and audit record.

Queue adapters are found through the ``opsdeck.queues`` entry-point group and configured
under a context's ``queues:`` list; like engines, construction never connects.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.actions.drain import NOWHERE, Drain, DrainProgress, DrainReport, DrainSpec
from console.errors import ConfigError, UsageError

if TYPE_CHECKING:
    import threading

    from console.config import Context, EngineEntry
    from console.policy.model import Decision
    from console.ports_dlq import DeadLetterQueue, SecretResolver
    from console.session import Session

GROUP = "opsdeck.queues"
_registered: dict[str, Callable[..., Any]] = {}


def register(kind: str, factory: Callable[..., Any]) -> None:
    """Add a queue adapter in-process (tests, embedding); wins over entry points."""
    _registered[kind] = factory


def queue_kinds() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def queue_class(kind: str) -> Callable[..., Any]:
    if kind in _registered:
        return _registered[kind]
    kinds = queue_kinds()
    target = kinds.get(kind)
    if target is None:
        known = ", ".join(sorted(set(kinds) | set(_registered))) or "none"
        raise ConfigError(f"unknown queue kind {kind!r}; available kinds: {known}")
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def build_queue(entry: EngineEntry, resolve_secret: SecretResolver) -> DeadLetterQueue:
    """One queue backend; errors carry the entry's file:line."""
    try:
        cls = queue_class(entry.kind)
    except ConfigError as exc:
        where = entry.field_locations.get("kind", entry.location)
        raise ConfigError(f"{entry.path}.kind: {exc.message}", location=where) from None
    try:
        queue: DeadLetterQueue = cls.from_config(  # type: ignore[attr-defined]
            entry.name, dict(entry.settings), resolve_secret
        )
    except ConfigError as exc:
        if exc.location:
            raise
        head, sep, rest = exc.message.partition(": ")
        if sep and " " not in head:
            where = entry.field_locations.get(head.split(".")[0], entry.location)
            raise ConfigError(f"{entry.path}.{head}: {rest}", location=where) from None
        raise ConfigError(f"{entry.path}: {exc.message}", location=entry.location) from None
    return queue


def build_queues(context: Context, resolve_secret: SecretResolver) -> dict[str, DeadLetterQueue]:
    return {entry.name: build_queue(entry, resolve_secret) for entry in context.queues}


def session_queues(session: Session) -> dict[str, DeadLetterQueue]:
    from console.session import resolve_secret

    return build_queues(session.context, resolve_secret)


def pick_queue_backend(
    backends: dict[str, DeadLetterQueue], name: str | None, context: str
) -> DeadLetterQueue:
    if name:
        if name not in backends:
            known = ", ".join(sorted(backends)) or "none"
            raise UsageError(f"context {context!r} has no queue backend {name!r} (queues: {known})")
        return backends[name]
    if len(backends) == 1:
        return next(iter(backends.values()))
    if not backends:
        raise UsageError(
            f"context {context!r} has no queue backends", hint="add a `queues:` list (docs/dlq.md)"
        )
    raise UsageError(
        f"context {context!r} has queue backends {', '.join(sorted(backends))}; "
        "pick one with --backend NAME"
    )


def authorize_drain(
    session: Session,
    backend: DeadLetterQueue,
    spec: DrainSpec,
    *,
    reason: str = "",
    approval_id: str | None = None,
    command: list[str] | None = None,
) -> Decision:
    """The policy's allowing decision for this drain (dlq.drain, or dlq.archive when the
    messages go nowhere but the archive); PolicyDenied / ApprovalRequired otherwise.

    The frozen plan an approval holds is the drain's spec (queue, filter, destination,
    rate, limit): the queue's content moves all the time, what is approved is the rule.
    """
    from console.policy.model import ChangeRequest

    action = "dlq.archive" if spec.destination == NOWHERE else "dlq.drain"
    data = spec.as_dict()
    change = ChangeRequest(
        action=action,
        engine=backend.name,
        targets=(f"{backend.name}:{spec.queue}",),
        reason=reason,
        params=data,
    )
    frozen = {"context": session.context.name, "backend": backend.name, "action": action}
    return session.gate.authorize(
        change, frozen | {"spec": data}, approval_id=approval_id, command=command
    )


def run_drain(
    session: Session,
    backend: DeadLetterQueue,
    spec: DrainSpec,
    *,
    drain_id: str,
    reason: str = "",
    archive_dir: Path | None = None,
    journal_dir: Path | None = None,
    on_progress: Callable[[DrainProgress], None] | None = None,
    cancel: threading.Event | None = None,
    run_id: str | None = None,
    decision: Decision | None = None,
    approval_id: str | None = None,
) -> tuple[DrainReport, int]:
    """Run (or resume) a drain, then write its one audit record; (report, audit id).
    ``run_id``: the chaos run (or runbook run) the drain belongs to, on the record.
    ``decision``: the policy's, when the caller asked already (authorize_drain)."""
    from console.policy.gate import audit_fields

    if decision is None:
        decision = authorize_drain(session, backend, spec, reason=reason, approval_id=approval_id)
    source = backend.drain_source(
        spec.queue, batch_size=spec.batch_size, hold_all=not spec.filter.is_all
    )
    drain = Drain(
        source,
        spec,
        drain_id=drain_id,
        archive_dir=archive_dir,
        journal_dir=journal_dir,
        recoverable=backend.recoverable_errors(),
        on_progress=on_progress,
        cancel=cancel,
    )
    report = drain.run()
    outcome = "ok" if report.exit_code == 0 else ("partial" if report.exit_code == 4 else "failed")
    data = report.as_dict()
    record = session.audit.append(
        context=session.context.name,
        action="dlq.drain",
        engine=backend.name,
        target=f"{backend.name}:{drain.spec.queue}",
        outcome=outcome,
        parameters={
            "filter": data["filter"],
            "destination": drain.spec.destination,
            "rate": drain.spec.rate,
            "batch_size": drain.spec.batch_size,
            "max_redrives": drain.spec.max_redrives,
            "parking_queue": drain.spec.parking,
            "counts": {
                k: data[k]
                for k in (
                    "matched",
                    "sent",
                    "parked",
                    "archived_only",
                    "left_in_dlq",
                    "not_matching",
                    "removed_already_sent",
                    "settled_after_crash",
                    "reconnects",
                )
            },
            "totals": report.totals,
            "archive_paths": report.archive_paths,
            "journal": report.journal_path,
            "cancelled": report.cancelled,
            "resumed": report.resumed,
            "policy": audit_fields(decision, session.gate.identity, approval_id),
        },
        reason=reason,
        message=report.error or "",
        request_id=drain_id,
        identity=session.gate.identity.user,
        run_id=run_id,
    )
    return report, record.id
