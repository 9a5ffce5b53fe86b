"""`opsdeck approvals list|show|approve|deny|apply` (docs/approvals.md)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.cli_common import output_format
from console.output import emit

COLUMNS = [
    ("ID", "id"),
    ("STATUS", "status"),
    ("ACTION", "action"),
    ("CONTEXT", "context"),
    ("TARGETS", "target_count"),
    ("REQUESTER", "requester"),
    ("APPROVALS", "approvals_text"),
    ("EXPIRES", "expires_at"),
]


def _store() -> Any:
    from console.approvals.store import ApprovalStore

    return ApprovalStore()


def _identity(args: argparse.Namespace) -> Any:
    from console.config import load_config
    from console.identity.current import resolve_identity

    config = load_config(Path(args.config) if getattr(args, "config", None) else None)
    return resolve_identity(config)


def _row(data: dict[str, Any]) -> dict[str, Any]:
    return data | {
        "target_count": len(data["targets"]),
        "approvals_text": f"{len(data['approvals'])}/{data['needed']}",
    }


def cmd_list(args: argparse.Namespace) -> int:
    store = _store()
    try:
        rows = [r.as_dict() for r in store.list(include_closed=args.all)]
    finally:
        store.close()
    rows.sort(key=lambda r: (r["status"] != "pending", r["status"] != "approved"))
    fmt = output_format(args)
    emit(
        [_row(r) for r in rows] if fmt == "table" else rows,
        fmt,
        columns=COLUMNS,
        empty="No approval requests waiting." + ("" if args.all else " (--all: every one)"),
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = _store()
    try:
        data = store.get(args.id).as_dict()
    finally:
        store.close()
    fmt = output_format(args)
    if fmt != "table":
        emit(data, fmt)
        return 0
    out = sys.stdout
    out.write(f"Request {data['id']}: {data['status']}\n")
    out.write(f"  {data['action']} in context {data['context']}, engine {data['engine']}\n")
    out.write(f"  requested by {data['requester']} at {data['created']}")
    out.write(f", expires {data['expires_at']}\n")
    if data["reason"]:
        out.write(f"  reason: {data['reason']}\n")
    decision = data["decision"]
    out.write(f"  policy: {decision['result']}: {'; '.join(decision['reasons']) or '-'}\n")
    groups = ", ".join(data["approver_groups"]) or "anyone but the requester"
    out.write(f"  needs {data['needed']} approval(s) from {groups}\n")
    for a in data["approvals"]:
        out.write(
            f"  approved by {a['user']} at {a['time']}{': ' + a['reason'] if a['reason'] else ''}\n"
        )
    if data["denied"]:
        d = data["denied"]
        out.write(f"  denied by {d['user']} at {d['time']}: {d['reason']}\n")
    out.write(f"  frozen plan ({data['plan_hash']}):\n")
    for call in data["plan"].get("calls") or []:
        out.write(f"    {call.get('target')}  {call.get('call')}  {call.get('params')}\n")
    for target in data["targets"] if not data["plan"].get("calls") else []:
        out.write(f"    {target}\n")
    if data["status"] == "approved":
        out.write(f"  apply with: opsdeck approvals apply {data['id']}\n")
    return 0


def _decide(args: argparse.Namespace, verdict: str) -> int:
    store = _store()
    try:
        identity = _identity(args)
        if verdict == "approve":
            request = store.approve(args.id, identity, args.reason)
        else:
            request = store.deny(args.id, identity, args.reason)
        data = request.as_dict()
    finally:
        store.close()
    fmt = output_format(args)
    if fmt == "table":
        tail = (
            f"; apply with: opsdeck approvals apply {data['id']}"
            if (data["status"] == "approved")
            else ""
        )
        print(
            f"request {data['id']} {verdict}d by {identity.user}: now {data['status']} "
            f"({len(data['approvals'])}/{data['needed']} approvals){tail}"
        )
    else:
        emit(data, fmt)
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    return _decide(args, "approve")


def cmd_deny(args: argparse.Namespace) -> int:
    return _decide(args, "deny")


def cmd_apply(args: argparse.Namespace) -> int:
    """Apply exactly the frozen plan: engine actions are planned again and compared by the
    gate; queue and chaos changes re-run their command with --approval."""
    from console.errors import PolicyDenied, UsageError

    store = _store()
    try:
        request = store.get(args.id)
    finally:
        store.close()
    status = request.status_at(datetime.now(UTC))
    if status != "approved":
        why = f" at {request.applied_at} by {request.applied_by}" if request.applied_at else ""
        raise PolicyDenied(
            f"request {request.id} is {status}{why} "
            f"({len(request.approvals)}/{request.needed} approvals); nothing applied"
        )
    from console.approvals.apply import is_engine_action

    if is_engine_action(request):
        return _apply_engine_action(args, request)
    if not request.command:
        raise UsageError(
            f"request {request.id} ({request.action}) holds no command to re-run",
            hint=f"run the original command again with --approval {request.id}",
        )
    from console.cli import main

    command = [*request.command, "--approval", request.id]
    if args.yes and "--yes" not in command and "-y" not in command:
        command.append("--yes")
    return main(command)


def _apply_engine_action(args: argparse.Namespace, request: Any) -> int:
    from console.approvals.apply import engine_request
    from console.cli_common import execute_change, run
    from console.session import open_session

    action = engine_request(request)
    session = open_session(
        request.context,
        read_only=bool(getattr(args, "read_only", False)),
        config_path=Path(args.config) if getattr(args, "config", None) else None,
    )
    ns = argparse.Namespace(
        output=output_format(args),
        dry_run=False,
        yes=args.yes,
        confirm=args.confirm,
        request_id=None,
        traceparent=None,
        approval=request.id,
        argv=None,
    )
    return run(session, execute_change(session, ns, request.engine, action))
