"""`opsdeck slo list|show`: service-level objectives per context (issue 14).

Both evaluate now (console.slo): value against objective, error budget left, burn rates
over the alert windows and the alert that would fire. Exit 0, or 4 when a burn-rate
alert (ticket or page) would fire, so scripts can gate on it; 2 for an unknown SLO
(the message lists the known ones) or a bad config; 1 when an SLO could not be
evaluated (and none alerts). JSON keys: docs/cli.md, "SLOs".
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from console.cli_common import output_format, run, session_for

EXIT_ALERT = 4


def add_verbs(group: Any, sub: Any) -> None:
    """Add this module's verbs to the `verbs` subparsers (`sub` as in console.cli)."""
    slo = group.add_parser("slo", help="service-level objectives: value, budget, burn rates")
    slov = slo.add_subparsers(dest="slo_verb", metavar="VERB", required=True)
    listing = sub(slov, "list", "cli_slo:cmd_list", "every SLO of the context, evaluated now")
    p = sub(slov, "show", "cli_slo:cmd_show", "one SLO: value, budget, burn rates, alert")
    p.add_argument("name", help="the SLO's name (see `opsdeck slo list`)")
    for each in (listing, p):
        each.add_argument(
            "--since", help="start the window here instead (30m, 2h, 7d ago, or an ISO time)"
        )


def _exit(alerts: list[str], failed: bool) -> int:
    if any(a != "none" for a in alerts):
        return EXIT_ALERT
    return 1 if failed else 0


def cmd_list(args: argparse.Namespace) -> int:
    from console.output import emit, to_data
    from console.slo.check import evaluate_all
    from console.slo.present import row, to_json

    session = session_for(args)
    specs = session.context.slos
    fmt = output_format(args)
    if not specs:
        emit([], fmt, empty=f"context {session.context.name!r} has no SLOs (docs/slo.md)")
        return 0
    results = run(session, evaluate_all(session, since=_since(args)))
    data: list[dict[str, Any]] = []
    alerts: list[str] = []
    failed = False
    for spec, result in zip(specs, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            failed = True
            print(f"opsdeck: SLO {spec.name}: {_error_text(result)}", file=sys.stderr)
            if fmt != "table":
                data.append({"name": spec.name, "error": _error_text(result)})
            continue
        alerts.append(result.alert.state)
        data.append(to_json(result) if fmt != "table" else row(result))
    columns = [("NAME", "name"), ("VALUE", "value"), ("OBJECTIVE", "objective"),
               ("BUDGET LEFT", "budget"), ("BURN 1H", "burn_long"), ("BURN 6H", "burn_longer"),
               ("ALERT", "alert"), ("TREND", "trend")]  # fmt: skip
    emit(data if fmt == "table" else to_data(data), fmt, columns=columns)
    return _exit(alerts, failed)


def cmd_show(args: argparse.Namespace) -> int:
    from console.output import dump, to_data
    from console.slo.check import evaluate_named, find_spec
    from console.slo.present import budget_text, objective_text, sparkline, to_json, value_text

    session = session_for(args)
    find_spec(session, args.name)  # unknown: exit 2 before any backend call
    report = run(session, evaluate_named(session, args.name, since=_since(args)))
    fmt = output_format(args)
    if fmt != "table":
        dump(to_data(to_json(report)), fmt)
        return _exit([report.alert.state], False)
    spec = report.spec
    lines = [
        ("name", spec.name),
        ("scope", _scope_text(spec)),
        ("source", report.source),
        ("value", value_text(report)),
        ("objective", f"{objective_text(spec)} over {report.span().removeprefix('in the ')}"),
        ("executions", f"{report.counts.good:g} good of {report.counts.total:g}"),
        ("budget left", budget_text(report)),
        ("burn rates", "  ".join(f"{w} {r:.2f}" for w, r in report.burn.items()) or "-"),
        ("alert", report.alert.state),
        ("why", report.alert.reason or "-"),
        ("reason", report.reason),
        ("trend", sparkline(report.series) or "-"),
    ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key.upper():<{width}}  {value}")
    return _exit([report.alert.state], False)


def _since(args: argparse.Namespace) -> Any:
    from console.cli_common import parse_since

    return parse_since(args.since) if getattr(args, "since", None) else None


def _scope_text(spec: Any) -> str:
    parts = [f"WorkflowType = '{spec.workflow_type}'" if spec.workflow_type else None, spec.query]
    scope = " AND ".join(p for p in parts if p)
    return f"{scope} (engine {spec.engine})" if spec.engine else scope


def _error_text(exc: Exception) -> str:
    from console.errors import OpsdeckError

    return exc.message if isinstance(exc, OpsdeckError) else f"{type(exc).__name__}: {exc}"
