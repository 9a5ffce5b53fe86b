"""`opsdeck sandbox drill list|start|status|check|stop` (issue 15).

Drills inject an incident into the running sandbox (console.drills). Exit codes:
``check`` 0 when resolved, 1 while something is still wrong (one line per failed check);
``status`` 1 when no drill runs; ``start`` while a drill runs, an unknown drill, or
``check``/``stop`` with none running: 2, nothing changed. ``-o json`` keys: docs/cli.md.
"""

from __future__ import annotations

import argparse
from typing import Any

from console.cli_common import output_format
from console.output import emit

LIST_COLUMNS = [
    ("NAME", "name"),
    ("TITLE", "title"),
    ("RUNBOOK", "runbook"),
    ("N", "default_count"),
]


def add_verbs(group: Any, sub: Any) -> None:
    """Add this module's verbs to the `sandbox` subparsers (`sub` as in console.cli)."""
    drill = group.add_parser("drill", help="training drills: inject an incident, then resolve it")
    verbs = drill.add_subparsers(dest="drill_verb", metavar="DRILL_VERB", required=True)
    sub(verbs, "list", "cli_drill:cmd_list", "the drills, what each injects, its runbook")
    p = sub(verbs, "start", "cli_drill:cmd_start", "inject a drill's incident into the sandbox")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--count", type=int, help="how many executions or messages (default: per drill)")
    sub(verbs, "status", "cli_drill:cmd_status", "the running drill: start, elapsed, hints")
    sub(verbs, "check", "cli_drill:cmd_check", "is it resolved? exit 0 yes, 1 no (what is wrong)")
    sub(verbs, "stop", "cli_drill:cmd_stop", "give up: clean up the injection, write the report")


def _data_dir() -> Any:
    from console.drills import sandbox_dir

    return sandbox_dir()


def cmd_list(args: argparse.Namespace) -> int:
    from console.drills import DRILLS

    rows = [d.to_data() for d in DRILLS.values()]
    emit(rows, output_format(args), columns=LIST_COLUMNS)
    if output_format(args) == "table":
        print("\nStart one with `opsdeck sandbox drill start NAME` (needs `opsdeck sandbox up`).")
    return 0


def _print_run(data: dict[str, Any]) -> None:
    print(f"Drill {data['drill']}: {data['title']} (run {data['token']})")
    print(f"  started {data['started_at']}, {data['elapsed_s']:.0f} s ago")
    print(f"  injected: {data['injects']} (N = {data['count']})")
    if data["incident"]:
        print(f"  incident: {data['incident']}")
    print(f"  runbook:  opsdeck runbook show {data['runbook']}")
    from console.drills.catalog import runbook_steps

    for i, title in enumerate(runbook_steps(data["runbook"]), 1):
        print(f"    {i}. {title}")
    print("  hints:")
    for hint in data["hints"]:
        print(f"    - {hint}")


def cmd_start(args: argparse.Namespace) -> int:
    from console import drills

    run = drills.start(args.name, _data_dir(), args.count)
    data = run.to_data()
    if output_format(args) != "table":
        emit(data, output_format(args))
        return 0
    _print_run(data)
    print("Check your progress with `opsdeck sandbox drill check`.")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from console import drills

    run = drills.status(_data_dir())
    if output_format(args) != "table":
        emit({"running": run is not None, "drill": run.to_data() if run else None}, args.output)
    elif run is None:
        print("No drill is running; `opsdeck sandbox drill list` shows them.")
    else:
        _print_run(run.to_data())
        if run.checks:
            failed = sum(not c["ok"] for c in run.checks)
            print(f"  last check {run.to_data()['checked_at']}: {failed} check(s) failing")
    return 0 if run is not None else 1


def _report_line(args: argparse.Namespace, report: Any, run: Any) -> None:
    if output_format(args) == "table":
        print(f"Report: {report}")
        if run.incident_reports:
            print(f"Incident {run.incident} closed; review: {run.incident_reports['md']}")


def cmd_check(args: argparse.Namespace) -> int:
    from console import drills

    run, results, report = drills.check(_data_dir())
    resolved = report is not None
    fmt = output_format(args)
    if fmt != "table":
        emit(
            {
                "drill": run.name,
                "token": run.token,
                "resolved": resolved,
                "elapsed_s": run.elapsed_s(),
                "checks": [r.to_data() for r in results],
                "report": str(report) if report else None,
                "incident": run.incident,
                "incident_reports": run.incident_reports,
            },
            fmt,
        )
    else:
        for result in results:
            if not result.ok:
                print(f"FAIL {result.name}: {result.detail}")
        if resolved:
            for result in results:
                print(f"ok   {result.name}: {result.detail}")
            print(f"Drill {run.name} resolved in {run.elapsed_s():.0f} s.")
    if resolved:
        _report_line(args, report, run)
    return 0 if resolved else 1


def cmd_stop(args: argparse.Namespace) -> int:
    from console import drills

    run, cleanup, report = drills.stop(_data_dir())
    fmt = output_format(args)
    if fmt != "table":
        emit(
            {
                "drill": run.name,
                "token": run.token,
                "stopped": True,
                "elapsed_s": run.elapsed_s(),
                "checks": run.checks,
                "cleanup": cleanup,
                "report": str(report),
                "incident": run.incident,
                "incident_reports": run.incident_reports,
            },
            fmt,
        )
    else:
        print(f"Drill {run.name} stopped after {run.elapsed_s():.0f} s; injection cleaned up.")
    _report_line(args, report, run)
    return 0
