"""`opsdeck` command line: every verb, -o table|json|yaml, stable exit codes.

Start-up time matters (`opsdeck --version` < 0.3 s, `executions list` within 1.5x of
the Temporal CLI), so this module imports only argparse; each verb imports what it
needs when it runs. Exit codes: 0 ok, 1 action failed, 2 usage or config error,
3 denied by policy, 4 partly done. Any OpsdeckError becomes one line on stderr
(`opsdeck: <title>: <message>`), never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_POLICY, EXIT_PARTIAL = 0, 1, 2, 3, 4


def _version() -> str:
    from console import __version__

    return __version__


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Global options, accepted before or after the verb (`opsdeck executions list -o json`)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument(
        "-c", "--context", default=default(None), help="context to use (default: current-context)"
    )
    group.add_argument(
        "--config", default=default(None), metavar="FILE", help="config file (or OPSDECK_CONFIG)"
    )
    group.add_argument(
        "-o",
        "--output",
        choices=("table", "json", "jsonl", "yaml"),
        default=default("table"),
        help="output format (json/yaml keys are documented in docs/cli.md; jsonl: one "
        "object per line, streamed by `executions list`)",
    )
    group.add_argument(
        "--read-only",
        action="store_true",
        default=default(False),
        help="refuse every change, whatever the context allows",
    )
    group.add_argument(
        "--incident",
        default=default(None),
        metavar="ID",
        help="tag this command's records with this open incident (default: $OPSDECK_INCIDENT, "
        "else the context's open incident; docs/incidents.md)",
    )


def _change_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", default=None, help="why (recorded on the server and in audit)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask y/N")
    parser.add_argument(
        "--confirm",
        metavar="TEXT",
        help="production contexts: the confirmation text (the target's id) for scripts",
    )
    parser.add_argument(
        "--request-id",
        help="idempotency key; reuse a failed run's id to resume it (default: a new uuid4)",
    )
    parser.add_argument(
        "--traceparent",
        metavar="W3C",
        help="the incident's trace context: the change's spans join that trace "
        "(default: $TRACEPARENT; exported only when telemetry.export is set)",
    )
    from console.cli_policy_verbs import add_approval_option

    add_approval_option(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opsdeck",
        description="Operations console for workflow engines. Without a verb: the TUI.",
        epilog="exit codes: 0 ok, 1 failed, 2 usage/config error, 3 denied by policy, "
        "4 partly done",
    )
    parser.add_argument("--version", action="version", version=f"opsdeck {_version()}")
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    def sub(
        group: Any, name: str, handler: str, help_text: str, **kw: Any
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(
            name, help=help_text, description=help_text, parents=[common], **kw
        )
        p.set_defaults(handler=handler)
        return p

    sub(verbs, "tui", "cli_admin:cmd_tui", "open the terminal UI (the default)")

    # executions
    ex = verbs.add_parser("executions", aliases=["ex"], help="list, inspect and remediate runs")
    exv = ex.add_subparsers(dest="subverb", metavar="SUBVERB", required=True)
    p = sub(exv, "list", "cli_executions:cmd_list", "list executions")
    p.add_argument("--status", action="append", default=[], help="running, failed, ... (repeat)")
    p.add_argument("--type", dest="workflow_type", help="workflow type")
    p.add_argument("--query", help="raw visibility query in the engine's syntax")
    p.add_argument("--since", help="started within (30m, 2h, 7d) or after an ISO time")
    p.add_argument(
        "--attr", action="append", default=[], metavar="KEY=VALUE", help="search attribute"
    )
    p.add_argument("--limit", type=int, default=100, help="at most N rows (0: all; default 100)")
    p.add_argument("--page-size", type=int, help="rows per request (default: the server's max)")
    p.add_argument("--engine", help="only this engine of the context")
    p = sub(exv, "count", "cli_executions:cmd_count", "count executions")
    p.add_argument("--status", action="append", default=[])
    p.add_argument("--type", dest="workflow_type")
    p.add_argument("--query")
    p.add_argument("--since")
    p.add_argument("--engine")
    p = sub(exv, "describe", "cli_executions:cmd_describe", "one execution in detail")
    p.add_argument("ref", metavar="REF", help="ENGINE:NAMESPACE/ID[/RUN] or a bare workflow id")
    p = sub(exv, "history", "cli_executions:cmd_history", "event history, oldest first")
    p.add_argument("ref", metavar="REF")
    p.add_argument("--failed-only", action="store_true", help="only failure events")
    p = sub(exv, "stuck", "cli_executions:cmd_stuck", "find stuck executions, with evidence")
    p.add_argument("--activity-attempts", type=int, help="activity attempt >= N (default 5)")
    p.add_argument("--task-attempts", type=int,
                   help="workflow task attempt >= N (default 6, from visibility; "
                   "below 6 every running execution is described)")  # fmt: skip
    p.add_argument("--no-progress", help="no new history event for longer than (default 30m)")
    p.add_argument(
        "--rules",
        help="comma list of: activity_retrying, workflow_task_failing, no_progress, no_pollers",
    )
    p.add_argument("--query", help="only among executions matching this visibility query")
    p.add_argument(
        "--skip-not-due",
        action="store_true",
        help="heuristic: no describe for delayed starts not yet due (one a signal-with-start "
        "woke early is missed until the server reports its failing task)",
    )
    p.add_argument("--engine")
    p.add_argument(
        "--explain",
        action="store_true",
        help="on stderr: how each rule is answered (visibility or describes), then the cost",
    )
    for action, help_text in (
        ("retry", "reset to the last workflow task (or --activity: reset the pending activity)"),
        ("cancel", "request cancellation"),
        ("terminate", "terminate immediately"),
    ):
        p = sub(exv, action, "cli_executions:cmd_change", help_text)
        p.add_argument("refs", nargs="*", metavar="REF")
        p.add_argument("--query", help="target every execution this visibility query matches")
        p.add_argument("--limit", type=int, default=1000, help="--query: at most N targets")
        p.add_argument(
            "--rps",
            type=float,
            help="--query as a server-side batch job: at most N operations per second",
        )
        p.add_argument("--engine")
        if action == "retry":
            p.add_argument("--activity", action="store_true", help="reset the pending activity")
        _change_options(p)
        p.set_defaults(action=action)
    p = sub(exv, "signal", "cli_executions:cmd_change", "send a signal")
    p.add_argument("refs", nargs=1, metavar="REF")
    p.add_argument("signal", metavar="NAME")
    p.add_argument("--input", help="signal input as JSON")
    _change_options(p)
    p.set_defaults(action="signal", query=None, engine=None)
    from console import cli_triage

    cli_triage.add_verbs(exv, sub)

    # versions
    ve = verbs.add_parser("versions", help="deployment versions and rollback")
    vev = ve.add_subparsers(dest="subverb", metavar="SUBVERB", required=True)
    p = sub(vev, "list", "cli_executions:cmd_versions", "versions with the current/ramping one")
    p.add_argument("deployment", metavar="DEPLOYMENT")
    p.add_argument("--engine")
    p = sub(vev, "rollback", "cli_executions:cmd_rollback", "set the current version back")
    p.add_argument("deployment", metavar="DEPLOYMENT")
    p.add_argument("--to", dest="version", help="version (default: the newest before current)")
    p.add_argument("--engine")
    _change_options(p)
    from console import cli_ramp

    cli_ramp.add_verbs(vev, sub)

    # context
    cx = verbs.add_parser("context", help="named environments from the config")
    cxv = cx.add_subparsers(dest="subverb", metavar="SUBVERB", required=True)
    sub(cxv, "list", "cli_admin:cmd_context_list", "list contexts")
    sub(cxv, "current", "cli_admin:cmd_context_current", "print the current context")
    p = sub(cxv, "use", "cli_admin:cmd_context_use", "make a context current")
    p.add_argument("name", metavar="NAME")

    # audit
    au = verbs.add_parser("audit", help="the append-only audit journal")
    auv = au.add_subparsers(dest="subverb", metavar="SUBVERB", required=True)
    p = sub(auv, "list", "cli_admin:cmd_audit_list", "newest records first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--action")
    p.add_argument("--target", help="substring of the target")
    p.add_argument("--request-id")
    p.add_argument("--since", help="30m, 2h, 7d or an ISO time")
    p = sub(auv, "show", "cli_admin:cmd_audit_show", "one record")
    p.add_argument("id", type=int, metavar="ID")
    sub(auv, "verify", "cli_admin:cmd_audit_verify", "check the hash chain")
    p = sub(auv, "export", "cli_admin:cmd_audit_export", "every record, oldest first")
    p.add_argument("--format", choices=("jsonl",), default="jsonl")
    p.add_argument("--file", help="write here instead of stdout")
    p = sub(auv, "review", "cli_review:cmd_review", "per identity: actions used, granted, unused")
    p.add_argument("--since", default="90d", help="30m, 2h, 90d or an ISO time (default 90d)")

    # secret
    se = verbs.add_parser("secret", help="store secrets in the keyring")
    sev = se.add_subparsers(dest="subverb", metavar="SUBVERB", required=True)
    p = sub(sev, "set", "cli_admin:cmd_secret_set", "store a secret; prints its reference")
    p.add_argument("name", metavar="NAME", help="NAME or SERVICE/NAME (service default: opsdeck)")
    p.add_argument("--stdin", action="store_true", help="read the value from stdin")

    # runbook
    rb = verbs.add_parser("runbook", aliases=["rb"], help="guided and scripted runbooks")
    rbv = rb.add_subparsers(dest="subverb", metavar="SUBVERB", required=True)
    sub(rbv, "list", "cli_runbook:cmd_list", "runbooks on the search path")
    p = sub(rbv, "show", "cli_runbook:cmd_show", "a runbook's parameters and steps")
    p.add_argument("name", metavar="NAME|FILE")
    p = sub(rbv, "lint", "cli_runbook:cmd_lint", "validate runbook files (exit 2 on errors)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p = sub(rbv, "run", "cli_runbook:cmd_run", "run a runbook (journaled, resumable)")
    p.add_argument("name", metavar="NAME|FILE")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--answer", action="append", default=[], metavar="STEP=CHOICE", help="decision answers"
    )
    p.add_argument("--engine", help="engine of the context (default: the only matching one)")
    p.add_argument(
        "--dry-run", action="store_true", help="run checks, plan actions, change nothing"
    )
    p.add_argument("-y", "--yes", action="store_true", help="confirm plans and manual steps")
    p.add_argument(
        "--durable", action="store_true", help="run as a Temporal workflow (`opsdeck worker`)"
    )
    p.add_argument("--detach", action="store_true", help="--durable: print the run id and return")
    p.add_argument("--task-queue", help="--durable: task queue (default: runbook-task-queue)")
    p = sub(rbv, "resume", "cli_runbook:cmd_resume", "continue a run where it stopped")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--answer", action="append", default=[], metavar="STEP=CHOICE")
    p.add_argument("-y", "--yes", action="store_true", help="confirm plans and manual steps")
    p.add_argument("--retry-failed", action="store_true", help="run the failed step again")
    p = sub(rbv, "approve", "cli_runbook:cmd_approve", "approve a step (another identity)")
    p.add_argument("run", metavar="RUN")
    p.add_argument("step", metavar="STEP")
    p = sub(rbv, "answer", "cli_runbook_durable:cmd_answer", "answer a decision/manual/confirm")
    p.add_argument("run", metavar="RUN")
    p.add_argument("step", metavar="STEP")
    p.add_argument("value", metavar="VALUE")
    p = sub(rbv, "runs", "cli_runbook:cmd_runs", "journaled runs, or one run in detail")
    p.add_argument("run", nargs="?", metavar="RUN")
    p.add_argument("--limit", type=int, default=50)

    p = sub(verbs, "worker", "cli_worker:cmd_worker", "run durable runbooks (Temporal worker)")
    p.add_argument("--task-queue", help="default: the context's runbook-task-queue")

    # dead-letter queues (console/cli_dlq.py)
    from console.cli_dlq import add_drain_options

    dq = verbs.add_parser("dlq", help="dead-letter queues: list, peek, drain, archive")
    dqv = dq.add_subparsers(dest="subverb", metavar="SUBVERB", required=True)
    p = sub(dqv, "list", "cli_dlq:cmd_list", "dead-letter queues with depth and oldest age")
    p.add_argument("--backend", help="only this queue backend of the context")
    p = sub(dqv, "peek", "cli_dlq:cmd_peek", "messages at the head, left in place (PII masked)")
    p.add_argument("queue", metavar="QUEUE")
    p.add_argument("-n", "--limit", type=int, default=10)
    p.add_argument("--backend")
    p = sub(dqv, "drain", "cli_dlq:cmd_drain", "redrive (or park, or archive) messages safely")
    add_drain_options(p, archive=False)
    p = sub(dqv, "archive", "cli_dlq:cmd_drain", "archive messages and remove them from the DLQ")
    add_drain_options(p, archive=True)
    p = move_parser = sub(
        dqv, "move", "cli_dlq:cmd_move", "SQS: redrive a whole DLQ on the server (move task)"
    )
    p.add_argument("queue", metavar="QUEUE", help="the DLQ (name or ARN)")
    p.add_argument("--backend")
    p.add_argument("--to", help="destination queue or ARN (default: the original sources)")
    p.add_argument("--rate", type=int, help="messages per second (1..500)")
    p.add_argument("--list", action="store_true", help="list the queue's move tasks")
    p.add_argument("--cancel", metavar="TASK_HANDLE", help="cancel a running move task")
    p.add_argument("-y", "--yes", action="store_true", help="start (or cancel) without asking")

    # chaos experiments (console/cli_chaos.py; chaoslib is imported only here)
    ch = verbs.add_parser("chaos", help="Chaos Toolkit experiments: validate, plan, run, rollback")
    chv = ch.add_subparsers(dest="subverb", metavar="SUBVERB", required=True)
    sub(chv, "list", "cli_chaos:cmd_list", "experiments on the search path")
    p = sub(chv, "validate", "cli_chaos:cmd_validate", "check experiments (file:line, exit 2)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p = sub(chv, "plan", "cli_chaos:cmd_plan", "every activity with provider, args, rollback")
    p.add_argument("file", metavar="FILE")
    p = chaos_run_parser = sub(
        chv, "run", "cli_chaos:cmd_run", "run an experiment (journaled, audited)"
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--dry-run", action="store_true", help="Chaos Toolkit dry mode: no actions")
    p.add_argument(
        "--var", action="append", default=[], metavar="KEY[:TYPE]=VALUE", help="configuration"
    )
    p.add_argument(
        "--rollback-strategy",
        choices=("default", "always", "never", "deviated"),
        default="default",
        help="when chaoslib plays the rollbacks (default: unless the run failed)",
    )
    p.add_argument("-y", "--yes", action="store_true", help="do not ask y/N")
    p.add_argument("--confirm", metavar="TEXT", help="production: the experiment title")
    p = sub(chv, "runs", "cli_chaos:cmd_runs", "stored runs, newest first")
    p.add_argument("--limit", type=int, default=50)
    p = sub(chv, "show", "cli_chaos:cmd_show", "one run: hypothesis, activities, audit")
    p.add_argument("run", metavar="RUN")
    p = sub(chv, "rollback", "cli_chaos:cmd_rollback", "play a run's rollbacks not yet done")
    p.add_argument("run", metavar="RUN")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask y/N")

    # governance: policy, approvals, identity (console/cli_policy_verbs.py)
    from console.cli_policy_verbs import add_approval_option, add_verbs

    add_verbs(verbs, sub)
    for parser_with_change in (move_parser, chaos_run_parser):
        add_approval_option(parser_with_change)

    # store (console/cli_store.py)
    from console.cli_store import add_verbs as add_store_verbs

    add_store_verbs(verbs, sub)

    # sandbox
    sb = verbs.add_parser("sandbox", help="local Temporal dev server with demo workflows")
    sbv = sb.add_subparsers(dest="subverb", metavar="SUBVERB", required=True)
    sub(sbv, "up", "cli_admin:cmd_sandbox_up", "start it and write the `sandbox` context")
    sub(sbv, "down", "cli_admin:cmd_sandbox_down", "stop it")
    sub(sbv, "status", "cli_admin:cmd_sandbox_status", "is it running, where")
    from console import cli_drill

    cli_drill.add_verbs(sbv, sub)

    # SLOs and incidents (console/cli_slo.py, console/cli_incident.py)
    from console import cli_incident, cli_slo

    cli_slo.add_verbs(verbs, sub)
    cli_incident.add_verbs(verbs, sub)

    # correlate
    p = sub(
        verbs,
        "correlate",
        "cli_correlate:cmd_correlate",
        "one context ID in: execution events, spans, logs and metrics on one timeline",
    )
    p.add_argument("id", metavar="ID", help="trace id, traceparent, execution ref, workflow id...")
    p.add_argument("--window", default="1h", help="time window around it (default 1h)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per source (default 10)")
    return parser


def _handler(spec: str) -> Callable[[argparse.Namespace], int]:
    import importlib

    module, _, name = spec.partition(":")
    handler: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(f"console.{module}"), name
    )
    return handler


def error_line(exc: BaseException) -> str:
    from console.errors import OpsdeckError

    if isinstance(exc, OpsdeckError):
        return f"opsdeck: {exc.title}: {exc}"
    return f"opsdeck: internal error: {type(exc).__name__}: {exc} (OPSDECK_DEBUG=1 shows more)"


def main(argv: Sequence[str] | None = None) -> int:
    code = _main(argv)
    if argv is None and "temporalio" in sys.modules:
        # The temporalio SDK's Rust runtime threads can crash the interpreter while it
        # finalizes (SIGSEGV / "PyGILState_Release" abort), turning exit 1 into 139/134.
        # Output is complete at this point, so leave without finalizing.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    return code


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list == ["--version"]:  # fast path: no parser, no imports
        print(f"opsdeck {_version()}")
        return EXIT_OK
    parser = build_parser()
    args = parser.parse_args(args_list)
    args.argv = args_list  # kept with a filed approval request, to re-run the change
    if getattr(args, "config", None):  # journals opened anywhere use this file's store
        from pathlib import Path

        from console.stores import settings as store_settings

        store_settings.config_path = Path(args.config)
    handler = getattr(args, "handler", "cli_admin:cmd_tui")
    try:
        incident = getattr(args, "incident", None)
        if incident or "console.incidents.store" in sys.modules:
            from console.incidents.store import use_incident

            use_incident(incident)  # checked before the verb acts; never left from a last call
        code = _handler(handler)(args)
    except KeyboardInterrupt:
        print("opsdeck: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `opsdeck ... | head`: stop quietly, and keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        from console.errors import OpsdeckError

        if os.environ.get("OPSDECK_DEBUG"):
            import traceback

            traceback.print_exc()
        print(error_line(exc), file=sys.stderr)
        return exc.exit_code if isinstance(exc, OpsdeckError) else EXIT_FAILED
    return code


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
