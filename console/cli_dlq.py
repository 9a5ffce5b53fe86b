"""`opsdeck dlq list|peek|drain|archive`: dead-letter queues from the CLI.

``drain`` goes plan -> preview (counts per reason and destination over the head of the
queue, PII-masked samples; --dry-run stops here) -> y/N (or --yes; production: type the
queue name) -> apply with progress on stderr (rate, ETA). Ctrl-C cancels after the
current batch and still prints the exact report (exit 4). ``--resume DRAIN_ID`` continues
a drain that was interrupted or killed, with the filter and destination it started with.
``archive`` is a drain to nowhere: every message is written to the archive and removed.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.actions.drain import DrainProgress, DrainReport, DrainSpec
    from console.policy.model import Decision
    from console.ports_dlq import DeadLetterQueue
    from console.session import Session


# This module is imported while the parser is built (add_drain_options), so everything
# beyond argparse is imported inside the handlers: start-up time matters.


def _backend(session: Session, args: argparse.Namespace) -> DeadLetterQueue:
    from console.actions.drain_service import pick_queue_backend, session_queues

    return pick_queue_backend(
        session_queues(session), getattr(args, "backend", None), session.context.name
    )


def cmd_list(args: argparse.Namespace) -> int:
    import asyncio

    from console.actions.drain_service import session_queues
    from console.cli_common import output_format, session_for
    from console.output import emit

    session = session_for(args)
    rows: list[dict[str, Any]] = []
    for name, backend in session_queues(session).items():
        if args.backend and name != args.backend:
            continue
        for info in asyncio.run(backend.list_queues()):
            rows.append(
                {
                    "backend": name,
                    "kind": backend.kind,
                    "queue": info.name,
                    "depth": info.depth,
                    "oldest_age_s": None
                    if info.oldest_age_s is None
                    else round(info.oldest_age_s, 1),
                    "sources": list(info.sources),
                }
            )
    emit(
        rows,
        output_format(args),
        columns=[
            ("BACKEND", "backend"),
            ("QUEUE", "queue"),
            ("DEPTH", "depth"),
            ("OLDEST (s)", "oldest_age_s"),
            ("SOURCES", "sources"),
        ],
        empty="No dead-letter queues configured (see docs/dlq.md).",
    )
    return 0


def cmd_peek(args: argparse.Namespace) -> int:
    import asyncio

    from console.actions.drain import sample_data
    from console.cli_common import output_format, session_for
    from console.output import emit

    session = session_for(args)
    backend = _backend(session, args)
    messages = asyncio.run(backend.peek(args.queue, args.limit))
    rows = [sample_data(m, session.config.pii_fields) for m in messages]
    emit(
        rows,
        output_format(args),
        columns=[
            ("ID", "dedup_id"),
            ("REASON", "reason"),
            ("FROM", "original_queue"),
            ("DEATHS", "death_count"),
            ("REDRIVES", "redrives"),
            ("ENQUEUED", "enqueued"),
            ("BODY", "body"),
        ],
        empty=f"{args.queue} is empty.",
    )
    return 0


def _spec(args: argparse.Namespace, backend: DeadLetterQueue, destination: str) -> DrainSpec:
    from console.actions.drain import DrainFilter, DrainSpec
    from console.cli_common import parse_duration
    from console.errors import UsageError

    headers = []
    for item in args.header or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--header {item!r}: write KEY=VALUE")
        headers.append((key, value))
    if args.batch_size < 1 or (args.rate is not None and args.rate <= 0):
        raise UsageError("--batch-size and --rate must be positive")
    return DrainSpec(
        adapter=backend.name,
        queue=args.queue,
        filter=DrainFilter(
            reasons=tuple(args.reason or ()),
            older_than_s=parse_duration(args.older_than).total_seconds()
            if args.older_than
            else None,
            newer_than_s=parse_duration(args.newer_than).total_seconds()
            if args.newer_than
            else None,
            headers=tuple(headers),
            body_contains=args.body_contains,
            jsonpath=args.jsonpath,
        ),
        destination=destination,
        rate=args.rate,
        batch_size=args.batch_size,
        max_redrives=args.max_redrives,
        parking_queue=args.parking_queue,
        limit=args.limit,
    )


def _preview_data(session: Session, backend: DeadLetterQueue, spec: DrainSpec, scan: int) -> Any:
    import asyncio

    from console.actions.drain import build_preview, missing_destinations
    from console.errors import UsageError

    source = backend.drain_source(spec.queue, batch_size=1)
    try:
        depth = source.depth()
        messages = asyncio.run(backend.peek(spec.queue, scan))
        pii = session.config.pii_fields
        preview = build_preview(spec, depth, messages, samples=3, pii_fields=pii)
        missing = missing_destinations(source, spec, preview)
    finally:
        source.close()
    if missing:
        raise UsageError(
            f"drain plan refused: {'; '.join(missing)}; nothing changed",
            hint="create the queue first, or pick another with --to (default: original)",
        )
    return {
        "queue": spec.queue,
        "backend": backend.name,
        "filter": spec.filter.describe(),
        "destination": spec.destination,
        "rate": spec.rate,
        "batch_size": spec.batch_size,
        "max_redrives": spec.max_redrives,
        "parking_queue": spec.parking,
        "depth": depth,
        "scanned": preview.scanned,
        "matched_in_scan": preview.matched,
        "by_reason": dict(preview.by_reason),
        "by_destination": dict(preview.by_destination),
        "samples": list(preview.samples),
    }


def _print_preview(data: dict[str, Any], out: Any) -> None:
    out.write(
        f"Plan: drain {data['queue']} (backend {data['backend']}) -> {data['destination']}\n"
        f"  filter: {data['filter']}; batch {data['batch_size']}, "
        f"rate {data['rate'] or 'unlimited'} msg/s; parked after {data['max_redrives']} "
        f"redrives in {data['parking_queue']}\n"
        f"  depth {data['depth']}; of the first {data['scanned']} messages, "
        f"{data['matched_in_scan']} match\n"
    )
    for reason, count in sorted(data["by_reason"].items()):
        out.write(f"  reason {reason}: {count}\n")
    for dest, count in sorted(data["by_destination"].items()):
        out.write(f"  to {dest}: {count}\n")
    import json

    for sample in data["samples"]:
        out.write(f"  sample: {json.dumps(sample, default=str)[:300]}\n")


class _Progress:
    """A one-line progress display on stderr (rewritten in place on a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p: DrainProgress) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < (0.2 if self.tty else 2.0)):
            return
        self.last = now
        eta = f"{p.eta_s:.0f}s" if p.eta_s is not None else "?"
        line = f"drained {p.done:,}/{p.total:,}  {p.rate:,.0f} msg/s  ETA {eta}"
        sys.stderr.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
        sys.stderr.flush()

    def end(self) -> None:
        if self.enabled and self.tty and self.last:
            sys.stderr.write("\n")


def _left(d: dict[str, Any]) -> str:
    left = d["left_in_dlq"]
    text = "depth left in the DLQ unknown" if left is None else f"{left} left in the DLQ"
    return f"{text} ({d['not_matching']} not matching)" if d["not_matching"] else text


def _print_report(report: DrainReport, out: Any) -> None:
    d = report.as_dict()
    limited = report.spec.limit is not None and d["matched"] >= report.spec.limit
    state = "cancelled" if d["cancelled"] else ("done" if d["completed"] else "stopped")
    if limited and not d["cancelled"] and not d["error"]:
        state = f"done (limit {report.spec.limit} reached)"
    out.write(
        f"Drain {d['drain_id']} {state}: {d['sent']} sent, {d['parked']} parked, "
        f"{d['archived_only']} archived only; {_left(d)}; "
        f"{d['removed_already_sent']} removed without resending, "
        f"{d['settled_after_crash']} settled from a crashed run; "
        f"{d['reconnects']} reconnects; {d['rate_per_s']} msg/s\n"
    )
    out.write(f"  totals over all runs: {d['totals']}\n")
    for path in d["archive_paths"]:
        out.write(f"  archive: {path}\n")
    if not d["completed"] and state.startswith(("stopped", "cancelled")):
        out.write(f"  resume with: opsdeck dlq drain {d['queue']} --resume {d['drain_id']}\n")


def cmd_drain(args: argparse.Namespace) -> int:
    import signal
    import threading
    from pathlib import Path

    from console.actions.drain import NOWHERE, new_drain_id
    from console.actions.drain_service import run_drain
    from console.cli_common import (
        confirm_or_abort,
        output_format,
        report_approval_required,
        session_for,
    )
    from console.output import dump

    fmt = output_format(args)
    session = session_for(args)
    backend = _backend(session, args)
    destination = NOWHERE if args.verb_archive else args.to
    spec = _spec(args, backend, destination)
    data = _preview_data(session, backend, spec, args.preview_scan)
    if args.dry_run:
        if fmt == "table":
            _print_preview(data, sys.stdout)
            sys.stdout.write("Dry run: nothing changed.\n")
        else:
            dump({"dry_run": True, "plan": data}, fmt)
        return 0
    from console.actions.drain_service import authorize_drain
    from console.errors import ApprovalRequired

    def authorize(approval: str | None) -> Decision:
        return authorize_drain(
            session,
            backend,
            spec,
            reason=args.reason_text or "",
            approval_id=approval,
            command=getattr(args, "argv", None),
        )

    decision = None
    if args.approval is None:
        try:  # before any prompt: a denial or an approval request needs no y/N
            decision = authorize(None)
        except ApprovalRequired as exc:
            return report_approval_required(exc, fmt, {"dry_run": False, "plan": data})
        data["policy"] = decision.as_dict()
    preview_out = sys.stdout if fmt == "table" else sys.stderr
    if fmt == "table" or not args.yes:
        _print_preview(data, preview_out)
    confirm_or_abort(session, args, question="Drain?", verb="drain", target=spec.queue)
    if decision is None:  # an approval is single use: spent once confirmed
        decision = authorize(args.approval)
        data["policy"] = decision.as_dict()
    drain_id = args.resume or new_drain_id()
    if fmt == "table":
        print(f"Draining (drain id {drain_id})...", flush=True)
    cancel = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(_signum: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        sys.stderr.write("\nopsdeck: cancelling after the current batch (Ctrl-C again: abort)\n")

    signal.signal(signal.SIGINT, on_sigint)
    progress = _Progress(not args.no_progress)
    try:
        report, audit_id = run_drain(
            session,
            backend,
            spec,
            drain_id=drain_id,
            reason=args.reason_text or "",
            archive_dir=Path(args.archive_dir) if args.archive_dir else None,
            on_progress=progress,
            cancel=cancel,
            decision=decision,
            approval_id=args.approval,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
        progress.end()
        session.audit.close()
    if fmt == "table":
        _print_report(report, sys.stdout)
        print(f"  audit: opsdeck audit show {audit_id}")
    else:
        dump(
            {"dry_run": False, "plan": data, "report": report.as_dict(), "audit_id": audit_id}, fmt
        )
    if report.error:
        print(f"opsdeck: drain error: {report.error}", file=sys.stderr)
    return report.exit_code


def add_drain_options(p: argparse.ArgumentParser, *, archive: bool) -> None:
    from console.cli_policy_verbs import add_approval_option

    p.add_argument("queue", metavar="QUEUE", help="the dead-letter queue")
    p.add_argument("--backend", help="queue backend of the context (default: the only one)")
    add_approval_option(p)
    if not archive:
        p.add_argument(
            "--to",
            default="original",
            metavar="DEST",
            help="original (the queue each message died in, default), none (archive only) "
            "or a queue name",
        )
    p.add_argument("--reason", action="append", metavar="REASON", help="death reason (repeat)")
    p.add_argument("--older-than", metavar="AGE", help="dead-lettered longer ago than (30m)")
    p.add_argument("--newer-than", metavar="AGE", help="dead-lettered within (2h)")
    p.add_argument("--header", action="append", metavar="K=V", help="header/attribute equals")
    p.add_argument("--body-contains", metavar="TEXT", help="substring of the body")
    p.add_argument("--jsonpath", metavar="EXPR[=VALUE]", help="JSONPath on the body")
    p.add_argument("--rate", type=float, help="at most N messages per second")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--max-redrives", type=int, default=3, help="park after N redrives")
    p.add_argument("--parking-queue", help="default: QUEUE.parking")
    p.add_argument("--limit", type=int, help="at most N matching messages")
    p.add_argument("--archive-dir", help="default: the data dir (opsdeck/drains)")
    p.add_argument("--resume", metavar="DRAIN_ID", help="continue an interrupted drain")
    p.add_argument("--preview-scan", type=int, default=1000, help="messages the preview reads")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.add_argument("--reason-text", "--why", dest="reason_text", help="why (audit record)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask y/N")
    p.add_argument("--confirm", metavar="TEXT", help="production: the queue name, for scripts")
    p.set_defaults(verb_archive=archive, to="none" if archive else "original")


def cmd_move(args: argparse.Namespace) -> int:
    """SQS whole-queue redrive on the server: StartMessageMoveTask, list, cancel."""
    from console.actions.policy import check_change_allowed
    from console.cli_common import output_format, session_for
    from console.errors import Unsupported, UsageError
    from console.output import emit

    fmt = output_format(args)
    session = session_for(args)
    backend: Any = _backend(session, args)
    if not hasattr(backend, "start_move_task"):
        raise Unsupported(
            f"{backend.name} ({backend.kind}) has no server-side move tasks; "
            "use `opsdeck dlq drain` (it works on every backend)"
        )
    if args.list:
        tasks = backend.list_move_tasks(args.queue)
        rows = [
            {
                "task_handle": t.get("TaskHandle"),
                "status": t.get("Status"),
                "moved": t.get("ApproximateNumberOfMessagesMoved"),
                "to_move": t.get("ApproximateNumberOfMessagesToMove"),
                "rate": t.get("MaxNumberOfMessagesPerSecond"),
                "destination": t.get("DestinationArn") or "(original sources)",
            }
            for t in tasks
        ]
        emit(rows, fmt, empty="No move tasks.")
        return 0
    from console.policy.gate import audit_fields
    from console.policy.model import ChangeRequest

    check_change_allowed(session.context, read_only=session.read_only)
    if not args.yes:
        raise UsageError("starting or cancelling a move task needs --yes")
    move_action = "dlq.move.cancel" if args.cancel else "dlq.move.start"
    move = {"queue": args.queue, "destination": args.to, "rate": args.rate, "task": args.cancel}
    decision = session.gate.authorize(
        ChangeRequest(
            move_action, backend.name, (args.cancel or f"{backend.name}:{args.queue}",), params=move
        ),
        {"context": session.context.name, "backend": backend.name, "action": move_action} | move,
        approval_id=args.approval,
        command=getattr(args, "argv", None),
    )
    if args.cancel:
        moved = backend.cancel_move_task(args.cancel)
        action, target, data = "dlq.move.cancel", args.cancel, {"moved": moved}
    else:
        handle = backend.start_move_task(args.queue, destination=args.to, rate=args.rate)
        action, target = "dlq.move.start", f"{backend.name}:{args.queue}"
        data = {"task_handle": handle, "destination": args.to, "rate": args.rate}
    record = session.audit.append(
        context=session.context.name,
        action=action,
        engine=backend.name,
        target=target,
        outcome="submitted",
        parameters=data | {"policy": audit_fields(decision, session.gate.identity, args.approval)},
        identity=session.gate.identity.user,
    )
    emit({**data, "audit_id": record.id}, fmt)
    return 0
