"""`opsdeck executions ...` and `opsdeck versions ...`."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from console.cli_common import (
    execute_change,
    output_format,
    parse_duration,
    parse_json,
    parse_since,
    pick_engine,
    run,
    session_for,
)
from console.cli_stuck_explain import explain_cost, explain_plan
from console.cli_targets import fan_out, resolve_ref, resolve_refs, versions_engine
from console.errors import UsageError
from console.model import (
    ActionKind,
    ActionRequest,
    Execution,
    ExecutionRef,
    ExecutionStatus,
    ListQuery,
    StuckHit,
    StuckRule,
    StuckRules,
    Version,
)
from console.output import compact, emit, execution_data, json_list_text, stuck_data, to_data
from console.session import Session

_NEVER = datetime.min.replace(tzinfo=UTC)  # sorts an unknown start time last
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
        page_size=_page_size(args, limit),
    )


def _page_size(args: argparse.Namespace, limit: int | None) -> int:
    """Temporal's default cap for visibility pages is 1000: ask for all it gives."""
    asked = getattr(args, "page_size", None)
    if asked is not None and asked < 1:
        raise UsageError("--page-size must be 1 or more")
    size = asked or 1000
    return min(limit, size) if limit else size


def _engines(session: Session, name: str | None) -> list[str]:
    return [pick_engine(session, name)[0]] if name else list(session.engines)


def newest_first(executions: list[Execution]) -> list[Execution]:
    """By start time, newest first (stable: ties keep the engine's order; unknown last)."""
    return sorted(executions, key=lambda e: e.start_time or _NEVER, reverse=True)


async def _listed(session: Session, name: str, query: ListQuery) -> list[Execution]:
    return [execution async for execution in session.engines[name].list(query)]


async def _encoded(session: Session, name: str, query: ListQuery) -> list[tuple[datetime, str]]:
    """Each row as its JSON text, keyed for newest_first, encoded as it arrives: the
    work overlaps the wait for the next page instead of following the last one."""
    return [
        (e.start_time or _NEVER, compact(execution_data(e)))
        async for e in session.engines[name].list(query)
    ]


def cmd_list(args: argparse.Namespace) -> int:
    """Each engine lists its newest N; the merge keeps the newest N of them all."""
    if args.limit < 0:
        raise UsageError("--limit must be 0 (all) or more")
    limit = args.limit or None
    query = _query(args, limit=limit)
    session = session_for(args)
    if output_format(args) == "jsonl":
        from console.cli_stream import stream_jsonl

        engines = {name: session.engines[name] for name in _engines(session, args.engine)}
        run(session, stream_jsonl(engines, query, limit))
        return 0

    async def collect() -> list[Execution]:
        found = await fan_out(
            _engines(session, args.engine),
            lambda name: _listed(session, name, query),
            raw_query=query.raw,
        )
        merged = newest_first([e for rows in found.values() for e in rows])
        return merged[:limit] if limit is not None else merged

    if output_format(args) == "json":

        async def collect_json() -> list[str]:
            found = await fan_out(
                _engines(session, args.engine),
                lambda name: _encoded(session, name, query),
                raw_query=query.raw,
            )
            # As newest_first: by start time, newest first, stable, unknown last.
            merged = sorted((r for rows in found.values() for r in rows), key=_key, reverse=True)
            return [text for _, text in (merged[:limit] if limit is not None else merged)]

        sys.stdout.write(json_list_text(run(session, collect_json())))
        return 0
    rows = [execution_data(e) for e in run(session, collect())]
    emit(rows, output_format(args), columns=LIST_COLUMNS, empty="No executions match.")
    return 0


def _key(row: tuple[datetime, str]) -> datetime:
    return row[0]


def cmd_count(args: argparse.Namespace) -> int:
    query = _query(args)
    session = session_for(args)

    async def count() -> dict[str, int]:
        names = _engines(session, args.engine)
        return await fan_out(names, lambda n: session.engines[n].count(query), raw_query=query.raw)

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

    async def describe() -> Any:
        found = await resolve_ref(session, args.ref)
        return found.detail or await session.engines[found.ref.engine].describe(found.ref)

    detail = run(session, describe())
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
        for row in activities:  # the table reads "no limit"; JSON keeps Temporal's 0
            if row.get("maximum_attempts") == 0:
                row["maximum_attempts"] = "no limit"
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

    async def collect() -> list[dict[str, Any]]:
        ref = (await resolve_ref(session, args.ref)).ref
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
        skip_not_due=getattr(args, "skip_not_due", False),
    )


def cmd_stuck(args: argparse.Namespace) -> int:
    rules = _rules(args)
    query = ListQuery(raw=args.query) if args.query else None
    session = session_for(args)

    async def stuck(name: str) -> list[StuckHit]:
        engine = session.engines[name]
        if getattr(args, "explain", False):
            explain_plan(name, engine, rules)
        hits = [hit async for hit in engine.find_stuck(rules, query)]
        if getattr(args, "explain", False):
            explain_cost(name, engine, len(hits))
        return hits

    async def collect() -> list[dict[str, Any]]:
        names = _engines(session, args.engine)
        found = await fan_out(names, stuck, raw_query=args.query)
        return [stuck_data(hit) for hits in found.values() for hit in hits]

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
        by_query = _query_job_engine(session, args)
        if by_query is not None:  # the engine plans one batch job by the query itself
            params.update(query=args.query, limit=args.limit, rps=args.rps)
            request = ActionRequest(kind, (), reason=reason, params=params)
            return await execute_change(session, args, by_query, request)
        refs: list[ExecutionRef] = await resolve_refs(session, args.refs)
        if args.query:
            refs += await _query_targets(session, args)
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


def _query_job_engine(session: Session, args: argparse.Namespace) -> str | None:
    """The engine to plan a change by query on, when it plans by query (a server-side
    batch job started with the query; Temporal): only --query, one engine or --engine."""
    rps = getattr(args, "rps", None)
    if rps is not None and not rps > 0:
        raise UsageError(f"--rps: operations per second must be above 0, not {rps:g}")
    if not args.query or args.refs:
        if rps is not None:
            raise UsageError("--rps applies to a change by --query alone (a server-side job)")
        return None
    if args.limit < 1:
        raise UsageError(f"--limit: at most how many targets, 1 or more, not {args.limit}")
    if args.engine is None and len(session.engines) != 1:
        if rps is not None:
            raise UsageError("--rps: the context has several engines; pick one with --engine")
        return None  # list the query on each engine to find the one it matches
    name, engine = pick_engine(session, args.engine)
    if getattr(engine, "plans_by_query", False):
        return name
    if rps is not None:
        raise UsageError(f"--rps: engine {name!r} ({engine.kind}) runs no server-side batch jobs")
    return None


async def _query_targets(session: Session, args: argparse.Namespace) -> list[ExecutionRef]:
    """The query's matches: from the one engine that has any (several: --engine)."""
    query = ListQuery(raw=args.query, limit=args.limit, page_size=min(args.limit, 1000))
    names = _engines(session, args.engine)
    found = await fan_out(names, lambda n: _listed(session, n, query), raw_query=args.query)
    matched = {name: rows for name, rows in found.items() if rows}
    if len(matched) > 1:
        counts = ", ".join(f"{name} ({len(rows)})" for name, rows in matched.items())
        raise UsageError(
            f"the query matches executions in several engines: {counts}; "
            "a change goes to one engine: pick it with --engine NAME"
        )
    return [e.ref for rows in matched.values() for e in rows]


def cmd_versions(args: argparse.Namespace) -> int:
    session = session_for(args)
    _, versions = run(session, versions_engine(session, args.engine, args.deployment))
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
    reason = args.reason if args.reason is not None else _default_reason("rollback")

    async def go() -> int:
        name, versions = await versions_engine(session, args.engine, args.deployment)
        version = args.version or _previous_version(versions, args.deployment)
        request = ActionRequest(
            ActionKind.ROLLBACK,
            reason=reason,
            params={"deployment": args.deployment, "version": version},
        )
        return await execute_change(session, args, name, request)

    return run(session, go())


def _previous_version(versions: list[Version], deployment: str) -> str:
    """The version to go back to: the only one besides the current (leaving out versions
    that never served, status ``inactive``, when one did); else ask for --to."""
    current = next((v for v in versions if v.is_current), None)
    if current is None:
        raise UsageError(f"deployment {deployment!r} has no current version; pass --to VERSION")
    others = [v for v in versions if v is not current]
    served = [v for v in others if v.status != "inactive"]
    if len(served) == 1:
        return served[0].version
    if len(others) == 1:
        return others[0].version
    if not others:
        raise UsageError(
            f"deployment {deployment!r} has only its current version {current.version}; "
            "nothing to roll back to"
        )
    listed = ", ".join(f"{v.version} ({v.status})" if v.status else v.version for v in others)
    raise UsageError(
        f"deployment {deployment!r} has several other versions: {listed}; pass --to VERSION"
    )
