"""`opsdeck executions ...` and `opsdeck versions ...`."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from console.cli_common import (
    execute_change,
    output_format,
    parse_duration,
    parse_json,
    parse_since,
    pick_engine,
    resolve_ref,
    run,
    session_for,
)
from console.errors import UsageError
from console.model import (
    ActionKind,
    ActionRequest,
    ExecutionRef,
    ExecutionStatus,
    ListQuery,
    StuckRule,
    StuckRules,
)
from console.output import emit, execution_data, stuck_data, to_data
from console.session import Session

LIST_COLUMNS = [
    ("WORKFLOW ID", "workflow_id"),
    ("TYPE", "workflow_type"),
    ("STATUS", "status"),
    ("STARTED", "start_time"),
    ("CLOSED", "close_time"),
    ("TASK QUEUE", "task_queue"),
    ("REF", "ref"),
]


def _statuses(values: list[str]) -> tuple[ExecutionStatus, ...]:
    out = []
    for value in values:
        for part in value.split(","):
            key = part.strip().lower().replace("-", "_")
            if not key:
                continue
            try:
                out.append(ExecutionStatus(key))
            except ValueError:
                known = ", ".join(s.value for s in ExecutionStatus)
                raise UsageError(f"unknown status {part!r}; use one of: {known}") from None
    return tuple(out)


def _query(args: argparse.Namespace, *, limit: int | None = None) -> ListQuery:
    attrs: dict[str, str] = {}
    for item in getattr(args, "attr", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--attr {item!r}: write KEY=VALUE")
        attrs[key] = value
    since = getattr(args, "since", None)
    return ListQuery(
        statuses=_statuses(getattr(args, "status", []) or []),
        workflow_type=getattr(args, "workflow_type", None),
        started_after=parse_since(since) if since else None,
        search_attributes=attrs,
        raw=getattr(args, "query", None),
        limit=limit,
        page_size=min(limit, 1000) if limit else 1000,
    )


def _engines(session: Session, name: str | None) -> list[str]:
    return [pick_engine(session, name)[0]] if name else sorted(session.engines)


def cmd_list(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise UsageError("--limit must be 0 (all) or more")
    limit = args.limit or None
    query = _query(args, limit=limit)
    session = session_for(args)

    async def collect() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for name in _engines(session, args.engine):
            async for execution in session.engines[name].list(query):
                rows.append(execution_data(execution))
                if limit is not None and len(rows) >= limit:
                    return rows
        return rows

    rows = run(session, collect())
    emit(rows, output_format(args), columns=LIST_COLUMNS, empty="No executions match.")
    return 0


def cmd_count(args: argparse.Namespace) -> int:
    query = _query(args)
    session = session_for(args)

    async def count() -> dict[str, int]:
        return {n: await session.engines[n].count(query) for n in _engines(session, args.engine)}

    counts = run(session, count())
    fmt = output_format(args)
    if fmt == "table":
        for name, value in counts.items():
            print(f"{name}: {value}" if len(counts) > 1 else value)
    else:
        emit({"total": sum(counts.values()), "engines": counts}, fmt)
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    session = session_for(args)
    ref = resolve_ref(session, args.ref)
    detail = run(session, session.engines[ref.engine].describe(ref))
    data = to_data(detail)
    fmt = output_format(args)
    if fmt != "table":
        emit(data, fmt)
        return 0
    keys = [
        ("Ref", "ref"),
        ("Workflow ID", "workflow_id"),
        ("Run ID", "run_id"),
        ("Type", "workflow_type"),
        ("Status", "status"),
        ("Task queue", "task_queue"),
        ("Started", "start_time"),
        ("Closed", "close_time"),
        ("Last event", "last_event_time"),
        ("History length", "history_length"),
        ("Build id", "build_id"),
        ("Deployment", "deployment_version"),
        ("Parent", "parent"),
        ("Search attrs", "search_attributes"),
        ("Last failure", "last_failure"),
    ]
    emit(data, "table", columns=keys)
    task = data.get("pending_workflow_task")
    if task:
        print(f"\nPending workflow task: {task['state']}, attempt {task['attempt']}")
    activities = data.get("pending_activities") or []
    if activities:
        print("\nPending activities:")
        emit(
            activities,
            "table",
            columns=[
                ("ID", "activity_id"),
                ("TYPE", "activity_type"),
                ("STATE", "state"),
                ("ATTEMPT", "attempt"),
                ("MAX", "maximum_attempts"),
                ("NEXT RETRY", "next_attempt_time"),
                ("LAST FAILURE", "last_failure"),
            ],
        )
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    session = session_for(args)
    ref = resolve_ref(session, args.ref)

    async def collect() -> list[dict[str, Any]]:
        events = []
        async for event in session.engines[ref.engine].history(ref):
            if args.failed_only and not event.is_failure:
                continue
            events.append(to_data(event))
        return events

    events = run(session, collect())
    fmt = output_format(args)
    if fmt == "table":
        for event in events:
            event["mark"] = "!" if event["is_failure"] else ""
    emit(
        events,
        fmt,
        columns=[
            ("ID", "event_id"),
            ("", "mark"),
            ("TIME", "time"),
            ("TYPE", "event_type"),
            ("SUMMARY", "summary"),
        ],
        empty="No events.",
    )
    return 0


def _rules(args: argparse.Namespace) -> StuckRules:
    defaults = StuckRules()
    enabled = defaults.enabled
    if args.rules:
        chosen = set()
        for name in args.rules.split(","):
            try:
                chosen.add(StuckRule(name.strip().lower().replace("-", "_")))
            except ValueError:
                known = ", ".join(r.value for r in StuckRule)
                raise UsageError(f"unknown rule {name!r}; use: {known}") from None
        enabled = frozenset(chosen)
    for option in ("activity_attempts", "task_attempts"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise UsageError(f"--{option.replace('_', '-')} must be 1 or more")
    return StuckRules(
        activity_attempts=args.activity_attempts or defaults.activity_attempts,
        workflow_task_attempts=args.task_attempts or defaults.workflow_task_attempts,
        no_progress=parse_duration(args.no_progress) if args.no_progress else defaults.no_progress,
        enabled=enabled,
    )


def cmd_stuck(args: argparse.Namespace) -> int:
    rules = _rules(args)
    query = ListQuery(raw=args.query) if args.query else None
    session = session_for(args)

    async def collect() -> list[dict[str, Any]]:
        hits = []
        for name in _engines(session, args.engine):
            async for hit in session.engines[name].find_stuck(rules, query):
                hits.append(stuck_data(hit))
        return hits

    hits = run(session, collect())
    emit(
        hits,
        output_format(args),
        columns=[
            ("REF", "ref"),
            ("TYPE", "workflow_type"),
            ("RULE", "rule"),
            ("EVIDENCE", "evidence"),
        ],
        empty="Nothing stuck.",
    )
    return 0


def _default_reason(action: str) -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"opsdeck {action} by {user}"


def cmd_change(args: argparse.Namespace) -> int:
    """retry / cancel / terminate / signal on explicit refs or a visibility query."""
    kind = ActionKind(args.action)
    if not args.refs and not args.query:
        raise UsageError(f"{kind.value}: give one or more REFs or --query")
    session = session_for(args)
    session.runner.check_allowed()  # refuse before touching the server
    params: dict[str, Any] = {}
    if kind is ActionKind.SIGNAL:
        params = {"signal": args.signal, "input": parse_json(args.input, "--input")}
    if kind is ActionKind.RETRY and getattr(args, "activity", False):
        params = {"mode": "activity"}
    reason = args.reason if args.reason is not None else _default_reason(kind.value)

    async def go() -> int:
        refs: list[ExecutionRef] = [resolve_ref(session, text) for text in args.refs]
        if args.query:
            _, engine = pick_engine(session, args.engine)
            query = ListQuery(raw=args.query, limit=args.limit, page_size=min(args.limit, 1000))
            async for execution in engine.list(query):
                refs.append(execution.ref)
            if not refs:
                print("No executions match the query; nothing to do.", file=sys.stderr)
                return 0
        engines = {ref.engine for ref in refs}
        if len(engines) > 1:
            raise UsageError(f"targets span engines {', '.join(sorted(engines))}; one at a time")
        unique = tuple(dict.fromkeys(refs))
        request = ActionRequest(kind, unique, reason=reason, params=params)
        return await execute_change(session, args, unique[0].engine, request)

    return run(session, go())


def cmd_versions(args: argparse.Namespace) -> int:
    session = session_for(args)
    _, engine = pick_engine(session, args.engine)
    versions = run(session, engine.versions(args.deployment))
    rows = [to_data(v) for v in versions]
    fmt = output_format(args)
    if fmt == "table":
        for row in rows:
            ramp = row.get("ramping_percentage")
            row["role"] = "current" if row["is_current"] else (f"ramping {ramp:g}%" if ramp else "")
    emit(
        rows,
        fmt,
        columns=[
            ("VERSION", "version"),
            ("ROLE", "role"),
            ("STATUS", "status"),
            ("CREATED", "created_time"),
        ],
        empty=f"No versions for {args.deployment!r}.",
    )
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    session = session_for(args)
    session.runner.check_allowed()
    name, engine = pick_engine(session, args.engine)
    reason = args.reason if args.reason is not None else _default_reason("rollback")

    async def go() -> int:
        version = args.version
        if version is None:
            version = _previous_version(list(await engine.versions(args.deployment)), args)
        request = ActionRequest(
            ActionKind.ROLLBACK,
            reason=reason,
            params={"deployment": args.deployment, "version": version},
        )
        return await execute_change(session, args, name, request)

    return run(session, go())


def _previous_version(versions: list[Any], args: argparse.Namespace) -> str:
    """The version to go back to: the one most recently current.

    A version that is draining was current (or ramping) until recently, so it wins;
    then the newest version created before the current one. Anything less clear-cut
    needs --to.
    """
    current = next((v for v in versions if v.is_current), None)
    if current is None:
        raise UsageError(f"deployment {args.deployment!r} has no current version; pass --to")
    others = [v for v in versions if v is not current]
    draining = [v for v in others if (v.status or "").lower() == "draining"]
    if len(draining) == 1:
        return str(draining[0].version)
    older = [
        v
        for v in others
        if v.created_time is not None
        and current.created_time is not None
        and v.created_time < current.created_time
    ]
    if not older:
        raise UsageError(
            f"cannot tell which version of {args.deployment!r} to go back to "
            f"(current: {current.version}); pass --to VERSION"
        )
    return str(max(older, key=lambda v: v.created_time).version)
