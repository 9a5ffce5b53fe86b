"""`opsdeck chaos ...`: Chaos Toolkit experiments: list, validate, plan, run, runs, show,
rollback.

Experiments are Chaos Toolkit files (JSON or YAML) run by chaoslib's Runner; each run
writes a Chaos Toolkit journal and a row in the chaos run store. ``run`` is a change
like any other: validate (exit 2), plan preview, policy (exit 3), y/N unless --yes,
production contexts need the experiment title typed (--confirm TEXT for scripts).
Exit codes: 0 completed with the hypothesis met, 1 failed or deviated, 2 usage or
invalid experiment, 3 denied by policy, 4 aborted with rollbacks run, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.cli_common import output_format, report_approval_required, session_for
from console.errors import Aborted, NotFound, PolicyDenied, UsageError
from console.output import dump, emit

if TYPE_CHECKING:
    from console.experiments.source import ExperimentFile
    from console.experiments.store import RunRow
    from console.session import Session


def search_dirs() -> list[Path]:
    """``$OPSDECK_EXPERIMENTS`` dirs, ``$XDG_CONFIG_HOME/opsdeck/experiments``, shipped ones."""
    dirs = [Path(p) for p in os.environ.get("OPSDECK_EXPERIMENTS", "").split(os.pathsep) if p]
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    dirs.append(Path(config) / "opsdeck" / "experiments")
    dirs.append(Path(__file__).resolve().parents[1] / "chaos" / "experiments")
    return dirs


def _files() -> list[Path]:
    seen: dict[str, Path] = {}
    for directory in search_dirs():
        if directory.is_dir():
            for path in sorted(directory.iterdir()):
                if path.suffix in (".json", ".yaml", ".yml") and path.stem not in seen:
                    seen[path.stem] = path
    return [seen[name] for name in sorted(seen)]


def _find(name: str) -> str:
    """A file path, or an experiment name on the search path."""
    if Path(name).is_file():
        return name
    for path in _files():
        if path.stem == name:
            return str(path)
    raise NotFound(f"no experiment file or name {name!r}", hint="`opsdeck chaos list` lists them")


def _load(name: str) -> ExperimentFile:
    from console.experiments.source import load_experiment_file

    return load_experiment_file(_find(name))


def cmd_list(args: argparse.Namespace) -> int:
    from console.experiments.source import ExperimentInvalid, load_experiment_file

    rows = []
    for path in _files():
        try:
            exp = load_experiment_file(str(path))
            method = exp.data.get("method") or []
            rows.append(
                {
                    "name": path.stem,
                    "title": exp.title,
                    "activities": len(method),
                    "path": str(path),
                    "error": None,
                }
            )
        except (ExperimentInvalid, UsageError) as exc:
            rows.append(
                {
                    "name": path.stem,
                    "title": "",
                    "activities": 0,
                    "path": str(path),
                    "error": str(exc),
                }
            )
    emit(
        rows,
        output_format(args),
        columns=[
            ("NAME", "name"),
            ("TITLE", "title"),
            ("METHOD", "activities"),
            ("PATH", "path"),
            ("ERROR", "error"),
        ],
        empty="No experiments found.",
    )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from console.experiments.source import ExperimentInvalid
    from console.experiments.validate import problems

    results: list[dict[str, Any]] = []
    for name in args.files:
        try:
            exp = _load(name)
            found = problems(exp)
            results.append(
                {"file": exp.path, "ok": not found, "title": exp.title, "problems": found}
            )
        except ExperimentInvalid as exc:
            results.append({"file": name, "ok": False, "title": None, "problems": exc.problems})
        except (UsageError, NotFound) as exc:
            results.append({"file": name, "ok": False, "title": None, "problems": [str(exc)]})
    if output_format(args) == "table":
        for r in results:
            if r["ok"]:
                print(f"{r['file']}: ok ({r['title']})")
            for problem in r["problems"]:
                print(problem, file=sys.stderr)
    else:
        dump(results, output_format(args))
    return 0 if all(r["ok"] for r in results) else 2


def _valid(name: str) -> ExperimentFile:
    from console.experiments.validate import ensure_valid

    exp = _load(name)
    ensure_valid(exp)
    return exp


def cmd_plan(args: argparse.Namespace) -> int:
    from console.experiments.plan import plan_data, print_plan

    data = plan_data(_valid(args.file))
    if output_format(args) == "table":
        print_plan(data, sys.stdout)
    else:
        dump(data, output_format(args))
    return 0


def _variables(items: list[str]) -> dict[str, Any]:
    from chaoslib import convert_vars

    try:
        return dict(convert_vars(items))
    except ValueError as exc:
        raise UsageError(f"--var: {exc} (write KEY=VALUE or KEY:int=5)") from None


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _ask(prompt: str) -> str:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise Aborted("no answer (end of input); nothing run")
    return line.strip()


def _confirm(session: Session, args: argparse.Namespace, title: str, changes: bool) -> str | None:
    """y/N unless --yes; in production the typed title (--confirm TEXT). Returns it."""
    from console.actions.chaos import ChaosPlan, ChaosRun, check_chaos_allowed

    def policy(typed: str | None) -> None:
        if changes:
            check_chaos_allowed(
                session.context,
                ChaosPlan("experiment", ()),
                ChaosRun("-", title, confirmed=typed),
                read_only=session.read_only,
                is_rollback=False,
            )

    production = session.context.production and changes
    if production and args.confirm is None:
        policy(title)  # not allowed or read-only: say so before asking anything
    elif not production:
        policy(args.confirm)
    if not args.yes:
        if not _stdin_is_tty():
            raise UsageError(
                "not running without confirmation: no terminal to ask on",
                hint="review with `opsdeck chaos plan`, then pass --yes",
            )
        if _ask("Run this experiment? [y/N] ").lower() not in ("y", "yes"):
            raise Aborted("not confirmed; nothing run")
    typed: str | None = args.confirm
    if production and typed is None:
        if not _stdin_is_tty():
            raise PolicyDenied(
                f"context {session.context.name!r} is production: confirmation text required",
                hint=f"pass --confirm {title!r}",
            )
        typed = _ask(f"Production context {session.context.name!r}: type {title!r} to run: ")
    if production:
        policy(typed)
    return typed


def _run_doc(row: RunRow, journal: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    from console.experiments.launcher import hypothesis_met
    from console.experiments.report import journal_summary

    summary = journal_summary(journal)
    return {
        "run": row.summary(),
        "hypothesis_met": hypothesis_met(journal) if journal else None,
        **summary,
        **extra,
    }


def cmd_run(args: argparse.Namespace) -> int:
    from console.experiments.activities import activities
    from console.experiments.launcher import launch
    from console.experiments.plan import plan_data, print_plan
    from console.experiments.store import ChaosRunStore

    fmt = output_format(args)
    variables = _variables(args.var)
    exp = _valid(args.file)
    session = session_for(args)
    plan = plan_data(exp, tuple(session.config.pii_fields))
    if fmt == "table" or not args.yes:
        print_plan(plan, sys.stdout if fmt == "table" else sys.stderr)
    changes = not args.dry_run and any(
        a.phase == "method" and a.activity.get("type") == "action" for a in activities(exp)
    )
    from console.actions.chaos import authorize_run

    if changes and args.approval is None:
        from console.errors import ApprovalRequired

        try:  # before any prompt: a denial or an approval request needs no y/N
            authorize_run(
                session, plan, approval_id=args.approval, command=getattr(args, "argv", None)
            )
        except ApprovalRequired as exc:
            return report_approval_required(exc, fmt, {"plan": plan})
    typed = None if args.dry_run else _confirm(session, args, exp.title, changes)
    if changes and args.approval is not None:  # single use: spent once confirmed
        authorize_run(session, plan, approval_id=args.approval)
    store = ChaosRunStore()
    try:
        result = launch(
            exp,
            store,
            context=session.context.name,
            config=str(session.config.path),
            confirm=typed,
            variables=variables,
            dry_run=args.dry_run,
            rollback_strategy=args.rollback_strategy,
            out=sys.stderr,
            approval=args.approval if changes else None,
        )
        row = result.row
        from console.incidents.model import CHAOS_RUN
        from console.incidents.store import tag

        tagged = tag(session.context.name, CHAOS_RUN, row.id, f"{exp.title}: {row.status}")
        if tagged:
            print(f"Chaos run {row.id} linked to incident {tagged}.", file=sys.stderr)
        if fmt == "table":
            from console.experiments.launcher import hypothesis_met

            verdict = "met" if hypothesis_met(result.journal) else "not met"
            deviated = ", deviated" if row.deviated else ""
            print(
                f"Run {row.id}: {row.status}{deviated}, hypothesis {verdict}; "
                f"journal {row.journal_path} (details: opsdeck chaos show {row.id})"
            )
            done = [v for v in store.rollbacks(row.id).values() if v["status"] == "done"]
            pending = len(exp.data.get("rollbacks") or []) - len(done)
            if pending > 0 and not row.dry_run:
                print(f"{pending} rollback(s) not played: opsdeck chaos rollback {row.id}")
        else:
            dump(_run_doc(row, result.journal, plan=plan, exit_code=result.exit_code), fmt)
        return result.exit_code
    finally:
        store.close()


def cmd_runs(args: argparse.Namespace) -> int:
    from console.experiments.store import ChaosRunStore

    store = ChaosRunStore()
    try:
        rows = [r.summary() for r in store.runs(args.limit)]
    finally:
        store.close()
    emit(
        rows,
        output_format(args),
        columns=[
            ("RUN", "id"),
            ("TITLE", "title"),
            ("CONTEXT", "context"),
            ("STATUS", "status"),
            ("DEVIATED", "deviated"),
            ("DRY", "dry_run"),
            ("STARTED", "started"),
            ("ENDED", "ended"),
        ],
        empty="No chaos runs yet.",
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from console.audit import AuditJournal
    from console.experiments.launcher import read_journal
    from console.experiments.store import ChaosRunStore

    store = ChaosRunStore()
    try:
        row = store.get(args.run)
        done = store.rollbacks(row.id)
    finally:
        store.close()
    audit = AuditJournal()
    try:
        records = [r.as_dict() for r in reversed(audit.list(None, run_id=row.id))]
    finally:
        audit.close()
    doc = _run_doc(
        row,
        read_journal(row),
        rollbacks_done=[{"index": i, **v} for i, v in sorted(done.items())],
        audit=records,
    )
    fmt = output_format(args)
    if fmt != "table":
        dump(doc, fmt)
        return 0
    hyp = doc["hypothesis"]

    def met(value: bool | None) -> str:
        return "-" if value is None else ("met" if value else "NOT met")

    print(f"run {row.id}: {row.title} [{row.status}{', deviated' if row.deviated else ''}]")
    print(f"  context {row.context}, started {row.started}, ended {row.ended or '-'}")
    print(f"  experiment {row.experiment_path}; journal {row.journal_path}")
    print(f"  hypothesis before: {met(hyp['before'])}, after: {met(hyp['after'])}")
    if doc["safeguard"]:
        sg = doc["safeguard"]
        why = sg["error"] or f"value {sg['value']!r} outside tolerance {sg['tolerance']}"
        print(f"  safeguard {sg['name']} tripped at {sg['time']}: {why}")
    for a in doc["activities"] + doc["rollbacks"]:
        took = f"{a['duration']:.1f}s" if isinstance(a["duration"], int | float) else "-"
        error = f"  {a['error']}" if a["error"] else ""
        print(f"  {a['phase']:<20} {a['status'] or '-':<10} {took:>7}  {a['name']}{error}")
    print("Audit:")
    for r in records:
        print(f"  #{r['id']} {r['time']} {r['action']} {r['target']} {r['outcome']}")
    if not records:
        print("  (none)")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from console.experiments.launcher import rollback_run
    from console.experiments.store import ChaosRunStore

    store = ChaosRunStore()
    try:
        row = store.get(args.run)
        if row.status == "running":
            raise UsageError(
                f"run {row.id} is still running ({row.owner}); its own rollbacks follow"
            )
        if row.dry_run:
            raise UsageError(f"run {row.id} was a dry run: it changed nothing to roll back")
        total = len(_stored_rollbacks(row))
        done = {i for i, v in store.rollbacks(row.id).items() if v["status"] == "done"}
        left = total - len(done)
        fmt = output_format(args)
        if left <= 0:
            if fmt == "table":
                print(f"Nothing left to roll back for run {row.id} ({total} rollback(s) done).")
            else:
                dump({"run": row.id, "ran": [], "skipped": total, "exit_code": 0}, fmt)
            return 0
        if not args.yes:
            if not _stdin_is_tty():
                raise UsageError(
                    "not rolling back without confirmation: no terminal to ask on",
                    hint="pass --yes",
                )
            if _ask(f"Run {left} rollback(s) of run {row.id}? [y/N] ").lower() not in ("y", "yes"):
                raise Aborted("not confirmed; nothing run")
        report = rollback_run(store, row, sys.stderr)
        if fmt == "table":
            print(
                f"Rolled back run {row.id}: {len(report.ran)} run, {len(report.skipped)} "
                "already done."
            )
        else:
            from console.experiments.report import activity_row

            dump(
                {
                    "run": row.id,
                    "ran": [activity_row("rollbacks", r) for r in report.ran],
                    "skipped": len(report.skipped),
                    "exit_code": report.exit_code,
                },
                fmt,
            )
        return report.exit_code
    finally:
        store.close()


def _stored_rollbacks(row: RunRow) -> list[Any]:
    from console.experiments.launcher import stored_experiment

    return list(stored_experiment(row).data.get("rollbacks") or [])
