"""`opsdeck context|audit|secret|sandbox|tui`."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.cli_common import output_format, parse_since, session_for
from console.config import load_config, upsert_context, use_context
from console.errors import ConfigError, NotFound, UsageError
from console.output import emit, to_data

if TYPE_CHECKING:
    from console.session import Session


def _config_path(args: argparse.Namespace) -> Path | None:
    return Path(args.config) if getattr(args, "config", None) else None


# --- context ---------------------------------------------------------------------------


def cmd_context_list(args: argparse.Namespace) -> int:
    config = load_config(_config_path(args))
    rows = [
        {
            "name": ctx.name,
            "current": ctx.name == config.current_context,
            "production": ctx.production,
            "read_only": ctx.read_only,
            "engines": [
                f"{e.name} ({e.kind})" if e.name != e.kind else e.name for e in ctx.engines
            ],
        }
        for ctx in config.contexts.values()
    ]
    fmt = output_format(args)
    if fmt == "table":
        for row in rows:
            row["mark"] = "*" if row["current"] else ""
    emit(
        rows,
        fmt,
        columns=[
            ("", "mark"),
            ("NAME", "name"),
            ("PRODUCTION", "production"),
            ("READ-ONLY", "read_only"),
            ("ENGINES", "engines"),
        ],
        empty=f"No contexts in {config.path}; `opsdeck sandbox up` writes one.",
    )
    return 0


def cmd_context_current(args: argparse.Namespace) -> int:
    config = load_config(_config_path(args))
    context = config.context(getattr(args, "context", None))
    fmt = output_format(args)
    if fmt == "table":
        print(context.name)
    else:
        emit({"name": context.name, "config": str(config.path)}, fmt)
    return 0


def cmd_context_use(args: argparse.Namespace) -> int:
    config = use_context(args.name, _config_path(args))
    print(f"Current context: {args.name} ({config.path})", file=sys.stderr)
    return 0


# --- audit -----------------------------------------------------------------------------

AUDIT_COLUMNS = [
    ("ID", "id"),
    ("TIME", "time"),
    ("USER", "who"),
    ("CONTEXT", "context"),
    ("ACTION", "action"),
    ("TARGET", "target"),
    ("OUTCOME", "outcome"),
    ("REASON", "reason"),
]


def _journal() -> Any:
    from console.audit import AuditJournal

    return AuditJournal()


def _audit_row(record: Any) -> dict[str, Any]:
    data: dict[str, Any] = record.as_dict()
    return data


def cmd_audit_list(args: argparse.Namespace) -> int:
    journal = _journal()
    records = journal.list(
        args.limit or None,
        action=args.action,
        target=args.target,
        request_id=args.request_id,
        since=parse_since(args.since) if args.since else None,
    )
    rows = [_audit_row(r) for r in records]
    fmt = output_format(args)
    if fmt == "table":
        for row in rows:
            row["who"] = (
                f"{row['os_user']} ({row['identity']})" if row["identity"] else row["os_user"]
            )
    emit(rows, fmt, columns=AUDIT_COLUMNS, empty="The audit journal is empty.")
    return 0


def cmd_audit_show(args: argparse.Namespace) -> int:
    record = _journal().get(args.id)
    if record is None:
        raise NotFound(f"no audit record {args.id}")
    emit(_audit_row(record), output_format(args))
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    journal = _journal()
    result = journal.verify_detail()
    fmt = output_format(args)
    data = {
        "ok": result.ok,
        "records": result.records,
        "broken_id": result.broken_id,
        "problem": result.problem or None,
        "path": journal.location,
    }
    if fmt != "table":
        emit(data, fmt)
    elif result.ok:
        print(f"Audit journal intact: {result.records} record(s) verified ({journal.location}).")
    if not result.ok:
        print(
            f"opsdeck: Audit journal tampered: record {result.broken_id}: {result.problem}",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_audit_export(args: argparse.Namespace) -> int:
    journal = _journal()
    if args.file:
        with open(args.file, "w", encoding="utf-8") as fp:
            count = journal.export_jsonl(fp)
        print(f"Exported {count} record(s) to {args.file}.", file=sys.stderr)
    else:
        journal.export_jsonl(sys.stdout)
    return 0


# --- secrets ---------------------------------------------------------------------------


def cmd_secret_set(args: argparse.Namespace) -> int:
    from console import secrets

    secrets.config_path = _config_path(args)  # the keyring warning is shown once per config
    ref = secrets.ref_for(args.name)  # validate the name before asking for the value
    if args.stdin:
        value = sys.stdin.read().rstrip("\r\n")
    elif sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"Value for {ref}: ")
    else:
        raise UsageError("no terminal to ask for the secret on", hint="pipe it in with --stdin")
    if not value:
        raise UsageError("refusing to store an empty secret")
    secrets.store_secret(args.name, value)
    print(f"Stored. Refer to it in the config as: {ref}")
    return 0


# --- sandbox ---------------------------------------------------------------------------


def sandbox_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("opsdeck")) / "sandbox"


def _sandbox() -> Any:
    module = importlib.import_module("console.sandbox")
    for name in ("up", "down", "status", "context_settings"):
        if not hasattr(module, name):
            raise ConfigError(f"console.sandbox.{name} is not available in this build")
    return module


def _print_state(args: argparse.Namespace, state: Any, running: bool) -> None:
    data = {"running": running, "state": to_data(state) if state is not None else None}
    fmt = output_format(args)
    if fmt != "table":
        emit(data, fmt)
    elif state is None:
        print("Sandbox is not running.")
    else:
        print(_sandbox_summary(state))


def _sandbox_summary(state: Any) -> str:
    """What a new user needs: is it up, where to point things, what to look at."""
    from datetime import UTC, datetime

    health = "running" if state.healthy else "degraded"
    parts = [f"server {'up' if state.server_running else 'DOWN'}"]
    parts.append(f"workers {'up' if state.workers_running else 'DOWN'}")
    started = datetime.fromtimestamp(state.started_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        f"Sandbox {health} ({', '.join(parts)}), started {started}",
        f"  Temporal gRPC:  {state.address}  (namespace {state.namespace})",
        f"  HTTP API:       {state.http_address}",
        f"  Web UI:         {state.ui_url}",
        f"  Data dir:       {state.data_dir}",
        "  Demo executions:",
    ]
    ids = dict(state.demo_ids)
    deployment = ids.pop("deployment", None)
    current, previous = ids.pop("current_build", None), ids.pop("previous_build", None)
    lines += [f"    {wf_id:<22} {kind.replace('_', ' ')}" for kind, wf_id in sorted(ids.items())]
    if deployment:
        lines.append(f"  Worker deployment {deployment}: current {current}, previous {previous}")
    if not state.healthy:
        lines.append("  Run `opsdeck sandbox up` again to restart what stopped.")
    return "\n".join(lines)


def cmd_sandbox_up(args: argparse.Namespace) -> int:
    sandbox = _sandbox()
    state = sandbox.up(sandbox_dir())
    settings = dict(sandbox.context_settings(state))
    settings.setdefault("name", settings.get("kind", "temporal"))
    from console.sandbox import aws  # moto_server + demo state machines (Step Functions)

    aws_state = aws.try_up(sandbox_dir())
    engines = [settings] + ([aws.engine_settings(aws_state["endpoint"])] if aws_state else [])
    from console.sandbox import telemetry  # demo trace/log stores + Prometheus

    telemetry_state = telemetry.try_up(sandbox_dir(), state)
    from console.sandbox import rabbit  # demo DLQ on the local RabbitMQ, when one runs

    rabbit_state = rabbit.try_up()
    from console.sandbox.slos import demo_slos

    config = upsert_context(
        "sandbox",
        engines,
        path=_config_path(args),
        sources=telemetry.sources(telemetry_state),
        sandbox=True,  # local brokers' default logins (guest/guest) are allowed here
        queues=[rabbit.queue_settings(rabbit_state)] if rabbit_state else None,
        slos=demo_slos(),
    )
    _print_state(args, state, True)
    if aws_state and output_format(args) == "table":
        print(aws.summary(aws_state))
    if output_format(args) == "table":
        print(telemetry.summary(telemetry_state))
        print(rabbit.summary(rabbit_state))
    note = "current context" if config.current_context == "sandbox" else "context"
    print(f"Wrote the `sandbox` {note} to {config.path}.", file=sys.stderr)
    return 0


def cmd_sandbox_down(args: argparse.Namespace) -> int:
    _sandbox().down(sandbox_dir())
    from console.sandbox import aws

    aws.down(sandbox_dir())
    from console.sandbox import telemetry

    telemetry.down(sandbox_dir())
    print("Sandbox stopped.", file=sys.stderr)
    return 0


def cmd_sandbox_status(args: argparse.Namespace) -> int:
    state = _sandbox().status(sandbox_dir())
    running = state is not None and state.healthy
    _print_state(args, state, running)
    from console.sandbox import aws

    aws_state = aws.status(sandbox_dir())
    if aws_state is not None and output_format(args) == "table":
        print(aws.summary(aws_state))
    if state is not None and output_format(args) == "table":
        from console.sandbox import telemetry

        print(telemetry.summary(telemetry.status(sandbox_dir())))
    return 0 if running else 1


# --- TUI -------------------------------------------------------------------------------


def cmd_tui(args: argparse.Namespace) -> int:
    session = session_for(args)
    from console.tui.app import OpsdeckApp

    def open_context(name: str) -> Session:
        """For `:ctx NAME`: the same flags, another context."""
        return session_for(argparse.Namespace(**{**vars(args), "context": name}))

    # The app closes its sessions on its own event loop (engines' clients live there).
    OpsdeckApp(session, session_factory=open_context, close_session=True).run()
    return 0
