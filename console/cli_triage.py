"""`opsdeck executions triage`: failures grouped by signature, transient or systemic (issue 14).

Lists the groups (systemic first, then by executions affected) with verdict and reason;
``--group N`` shows one group, its runs and the commands that act on it; ``--group N
--retry`` retries its failing runs through the change path of every change (plan,
--dry-run, policy, confirm, audit: console.cli_common.execute_change), never directly.
Group numbers are positions in this run's listing: the retry's plan names the group's
signature and targets, so a listing that moved on is seen before anything changes.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from console.cli_common import (
    execute_change,
    output_format,
    parse_since,
    pick_engine,
    run,
    session_for,
)
from console.errors import UsageError
from console.model import ActionKind, ActionRequest
from console.session import Session

if TYPE_CHECKING:
    from console.triage.groups import FailureGroup
    from console.triage.report import Triaged

DEFAULT_SINCE = "1h"


def add_verbs(group: Any, sub: Any) -> None:
    """Add this module's verbs to the `executions` subparsers (`sub` as in console.cli)."""
    from console.cli import _change_options

    p = sub(
        group,
        "triage",
        "cli_triage:cmd_triage",
        "failures grouped by signature, each systemic or transient with its reason",
    )
    p.add_argument("--query", help="only among executions matching this visibility query")
    p.add_argument(
        "--since", default=DEFAULT_SINCE, help="failures since (30m, 2h, 7d or ISO; default 1h)"
    )
    p.add_argument("--engine", help="only this engine of the context")
    p.add_argument("--group", type=int, metavar="N", help="show group N (1 = the first listed)")
    p.add_argument(
        "--retry",
        action="store_true",
        help="with --group: retry its failing runs (plan, policy, confirm, audit)",
    )
    _change_options(p)


def cmd_triage(args: argparse.Namespace) -> int:
    if args.retry and args.group is None:
        raise UsageError("--retry needs --group N: which group's runs to retry")
    if args.group is not None and args.group < 1:
        raise UsageError(f"--group: 1 or more, not {args.group}")
    since = parse_since(args.since)
    session = session_for(args)
    if args.retry:
        session.runner.check_allowed()  # refuse before reading anything

    async def go() -> int:
        from console.triage.report import triage_engines

        if args.engine:
            name, engine = pick_engine(session, args.engine)
            engines = {name: engine}
        else:
            engines = dict(session.engines)
        found = await triage_engines(engines, query=args.query, since=since)
        if args.group is None:
            return _print_list(found, output_format(args))
        if args.group > len(found.groups):
            raise UsageError(
                f"--group {args.group}: the triage found {len(found.groups)} group(s); "
                f"`opsdeck executions triage --since {args.since}` lists them"
            )
        number = args.group
        if args.retry:
            return await _retry(session, args, found.groups[number - 1])
        return _print_group(found, number, output_format(args))

    return run(session, go())


def _print_list(found: Triaged, fmt: str) -> int:
    from console.output import dump

    if fmt != "table":
        dump(found.data(), fmt)
        return 0
    out = sys.stdout
    if not found.groups:
        out.write(f"No failures since {found.since_text}.\n")
        _scanned(found)
        return 0
    for number, group in enumerate(found.groups, 1):
        out.write(_headline(number, group) + "\n")
        out.write(f"    {group.signature.message}\n")
        out.write(f"    {group.reason}\n")
    out.write(
        "\nOne group, its runs and commands: opsdeck executions triage --group N"
        " (add --retry --dry-run to plan a retry)\n"
    )
    _scanned(found)
    return 0


def _headline(number: int, group: FailureGroup) -> str:
    sig = group.signature
    where = sig.workflow_type + (f"/{sig.activity_type}" if sig.activity_type else "")
    last = group.last_seen.strftime("%Y-%m-%d %H:%M:%S") if group.last_seen else "?"
    version = f" on {sig.version}" if sig.version else ""
    runs = len(group.executions)
    return (
        f"{number:>3}  {group.verdict.upper():<9}  {runs} run{'s' if runs != 1 else ''}  "
        f"{sig.engine}: {where}  {sig.error_type}{version}  (last {last})"
    )


def _scanned(found: Triaged) -> None:
    for engine, stats in found.stats_lines():
        print(f"{engine}: read {stats}", file=sys.stderr)


def _print_group(found: Triaged, number: int, fmt: str) -> int:
    from console.output import dump

    data = found.data()["groups"][number - 1]
    if fmt != "table":
        dump(data, fmt)
        return 0
    group = found.groups[number - 1]
    out = sys.stdout
    out.write(_headline(number, group) + "\n")
    for label, key in (
        ("Reason", "reason"),
        ("Message", "message"),
        ("Example", "example"),
        ("Kinds", "kinds"),
        ("First seen", "first_seen"),
        ("Last seen", "last_seen"),
        ("Versions", "versions"),
        ("Max attempt", "max_attempt"),
    ):
        value = data[key]
        if isinstance(value, list):
            value = ", ".join(value)
        if value not in (None, ""):
            out.write(f"{label + ':':<13}{value}\n")
    out.write(f"\nExecutions ({len(group.executions)}, {group.retried_through} retried through):\n")
    for ref in group.executions:
        healed = "" if ref in group.failing else "  (retried through)"
        out.write(f"  {ref}{healed}\n")
    command = data["retry_command"]
    out.write("\nRetry (plan first): " + (command or "nothing to retry: all retried through"))
    out.write("\n")
    if data["runbook"]:
        out.write(f"Runbook ({data['runbook']['why']}): {data['runbook']['command']}\n")
    return 0


async def _retry(session: Session, args: argparse.Namespace, group: FailureGroup) -> int:
    from console.triage.data import retry_mode

    if not group.failing:
        print(
            f"Group {args.group} is all retried through: its runs recovered; nothing to retry.",
            file=sys.stderr,
        )
        return 0
    params: dict[str, Any] = {"mode": "activity"} if retry_mode(group) == "activity" else {}
    reason = args.reason or f"triage: {group.signature.label()}"[:200]
    print(
        f"Group {args.group}: {group.signature} ({len(group.failing)} failing runs)",
        file=sys.stderr,
    )
    request = ActionRequest(ActionKind.RETRY, tuple(group.failing), reason=reason, params=params)
    return await execute_change(session, args, group.signature.engine, request)
