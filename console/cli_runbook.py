"""`opsdeck runbook ...`: list, show, lint, run, resume, approve, runs.

A run goes step by step until it ends or needs a person. In scripts (``--yes``, no
terminal) a decision without ``--answer STEP=CHOICE`` stops the run with exit 2 naming
the step; an approval stops it with exit 4 and the run id to resume after
``opsdeck runbook approve RUN STEP`` by a different identity. On a terminal, decisions,
manual steps and action plans are asked for interactively. Every run is journaled;
``opsdeck runbook resume RUN`` continues where it stopped.

Exit codes: 0 done, 1 a step failed, 2 usage error or a missing answer, 3 denied by
policy, 4 waiting (approval, or a confirmation with no terminal).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from console.cli_common import output_format, session_for
from console.errors import UsageError
from console.output import dump, emit

if TYPE_CHECKING:
    from console.runbook.runner import Progress, RunbookRunner, Waiting
    from console.runbook.schema import Runbook

EXIT_WAITING = 4


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} {item!r}: write KEY=VALUE")
        out[key.strip()] = value
    return out


def cmd_list(args: argparse.Namespace) -> int:
    from console.runbook.catalog import catalog

    rows = []
    for entry in catalog():
        book = entry.runbook
        rows.append(
            {
                "name": entry.name,
                "title": book.title if book else "",
                "severity": book.severity if book else "",
                "engines": list(book.engines) if book else [],
                "steps": len(book.steps) if book else 0,
                "tags": list(book.tags) if book else [],
                "path": str(entry.path),
                "error": entry.error,
            }
        )
    emit(
        rows,
        output_format(args),
        columns=[
            ("NAME", "name"),
            ("TITLE", "title"),
            ("SEVERITY", "severity"),
            ("STEPS", "steps"),
            ("PATH", "path"),
            ("ERROR", "error"),
        ],
        empty="No runbooks found.",
    )
    return 0


def book_data(book: Runbook) -> dict[str, Any]:
    return {
        "name": book.name,
        "title": book.title,
        "description": book.description,
        "owner": book.owner,
        "tags": list(book.tags),
        "severity": book.severity,
        "engines": list(book.engines),
        "path": book.path,
        "parameters": [
            {
                "name": p.name,
                "type": p.type,
                "default": p.default,
                "required": p.required,
                "choices": list(p.choices),
                "help": p.help,
            }
            for p in book.parameters
        ],
        "steps": [
            {
                "id": s.id,
                "kind": s.kind,
                "title": s.title,
                "when": s.when.source if s.when else None,
                "text": s.text,
            }
            for s in book.steps
        ],
    }


def cmd_show(args: argparse.Namespace) -> int:
    from console.runbook.catalog import find

    book = find(args.name)
    data = book_data(book)
    fmt = output_format(args)
    if fmt != "table":
        dump(data, fmt)
        return 0
    out = sys.stdout
    out.write(f"{book.title} ({book.name}, severity {book.severity}, owner {book.owner or '-'})\n")
    out.write(f"{book.path}\n\n{book.description.strip()}\n\nParameters:\n")
    for p in book.parameters:
        default = f" (default {p.default!r})" if p.default is not None else ""
        out.write(f"  {p.name}: {p.type}{default}  {p.help}\n")
    out.write("\nSteps:\n")
    for i, s in enumerate(book.steps, 1):
        when = f"  [when {s.when.source.strip()}]" if s.when else ""
        out.write(f"  {i}. {s.id} ({s.kind}): {s.title}{when}\n")
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    from console.errors import ConfigError
    from console.runbook.loader import RunbookInvalid, load_runbook

    results = []
    for name in args.files:
        try:
            book = load_runbook(name)
            results.append({"file": name, "ok": True, "name": book.name, "problems": []})
        except RunbookInvalid as exc:
            problems = [str(p) for p in exc.problems]
            results.append({"file": name, "ok": False, "name": None, "problems": problems})
        except ConfigError as exc:
            results.append({"file": name, "ok": False, "name": None, "problems": [str(exc)]})
    fmt = output_format(args)
    if fmt == "table":
        for r in results:
            if r["ok"]:
                print(f"{r['file']}: ok ({r['name']})")
            for problem in r["problems"]:
                print(problem, file=sys.stderr)
    else:
        dump(results, fmt)
    return 0 if all(r["ok"] for r in results) else 2


def _progress_data(progress: Progress) -> dict[str, Any]:
    from console.runbook.loader import parse_runbook

    book = parse_runbook(progress.run.source, progress.run.path)
    steps = []
    for step in book.steps:
        rec = progress.steps.get(step.id)
        steps.append(
            {
                "id": step.id,
                "kind": step.kind,
                "state": rec.state if rec else "pending",
                "message": rec.message if rec else "",
                "result": rec.result if rec else {},
                "request_id": rec.request_id if rec else None,
            }
        )
    data = progress.run.summary() | {"params": progress.run.params, "steps": steps}
    data["waiting"] = progress.waiting.as_dict() if progress.waiting else None
    return data


def _ask(prompt: str) -> str | None:
    try:
        interactive = sys.stdin.isatty()
    except (AttributeError, ValueError):
        interactive = False
    if not interactive:
        return None
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    return line.strip() if line else None


def _prompt(waiting: Waiting, yes: bool, fmt: str) -> str | None:
    """An answer for what the run waits on, or None when none can be had here."""
    if waiting.kind == "confirm":
        phrase = (waiting.plan or {}).get("confirmation")
        if yes and phrase is None:
            return "yes"
        if waiting.plan is not None and fmt == "table":
            _print_plan(waiting.plan)
        if phrase is not None:  # production: --yes is not enough, the phrase is typed
            return _ask(f"Production: type {phrase!r} to apply: ")
        answer = _ask("Apply this plan? [y/N] ")
        return None if answer is None else ("yes" if answer.lower() in ("y", "yes") else "no")
    if waiting.kind == "manual":
        if yes:
            return "done"
        return _ask(f"{waiting.prompt} - type 'done': ")
    if waiting.kind == "decision":
        return _ask(f"{waiting.prompt} [{'/'.join(waiting.choices)}] ")
    return None  # approvals never pass here


def _print_plan(plan: dict[str, Any]) -> None:
    out = sys.stderr
    out.write(f"Plan: {plan['action']} {len(plan['calls'])} target(s) (engine {plan['engine']})\n")
    for call in plan["calls"]:
        out.write(f"  {call['call']:<28} {call['target']}\n")
    for warning in plan["warnings"]:
        out.write(f"  Warning: {warning}\n")


async def _drive(runner: RunbookRunner, args: argparse.Namespace) -> Progress:
    fmt = output_format(args)
    while True:
        progress = await runner.advance()
        waiting = progress.waiting
        if waiting is None:
            return progress
        answer = _prompt(waiting, bool(getattr(args, "yes", False)), fmt)
        if answer is None:
            return progress
        runner.answer(waiting.step, answer)


def _finish(progress: Progress, args: argparse.Namespace) -> int:
    fmt = output_format(args)
    run = progress.run
    waiting = progress.waiting
    if fmt != "table":
        dump(_progress_data(progress), fmt)
    else:
        print(f"run {run.id}: {run.status}" + (f" - {run.message}" if run.message else ""))
    if waiting is None:
        return 0 if run.status == "done" else 1
    resume = f"opsdeck runbook resume {run.id}"
    if waiting.kind == "decision":
        print(
            f"opsdeck: Usage error: step {waiting.step!r} needs a decision: pass --answer "
            f"{waiting.step}=CHOICE (choices: {', '.join(waiting.choices)}); "
            f"then: {resume} --answer {waiting.step}=CHOICE",
            file=sys.stderr,
        )
        return 2
    if waiting.kind == "approval":
        print(f"opsdeck: waiting: {waiting.prompt}; then: {resume}", file=sys.stderr)
        return EXIT_WAITING
    what = f"--answer {waiting.step}=done (or --yes)"
    if waiting.kind == "confirm":
        phrase = (waiting.plan or {}).get("confirmation")
        what = "--yes" if phrase is None else f"--answer {waiting.step}={phrase}"
    print(
        f"opsdeck: waiting: {waiting.prompt}; no terminal to ask on: {resume} {what}",
        file=sys.stderr,
    )
    return 2


def _printer(args: argparse.Namespace) -> Any:
    if output_format(args) != "table":
        return None

    def show(text: str) -> None:
        print(f"  {text}", flush=True)

    return show


def cmd_run(args: argparse.Namespace) -> int:
    from console.cli_common import run as run_async
    from console.runbook.catalog import find
    from console.runbook.journal import RunJournal
    from console.runbook.runner import RunbookRunner

    book = find(args.name)
    params = _pairs(args.param, "--param")
    answers = _pairs(args.answer, "--answer")
    if getattr(args, "durable", False):
        from console.cli_runbook_durable import cmd_run_durable

        return cmd_run_durable(args, book, params, answers)
    if getattr(args, "detach", False):
        raise UsageError("--detach needs --durable (a local run lives in this process)")
    session = session_for(args)
    journal = RunJournal()

    async def go() -> Progress:
        runner = RunbookRunner.start(
            session,
            journal,
            book,
            params,
            answers=answers,
            engine=args.engine,
            dry_run=args.dry_run,
            on_event=_printer(args),
        )
        if output_format(args) == "table":
            print(f"run {runner.run.id}: {book.title} ({book.name})", flush=True)
        return await _drive(runner, args)

    try:
        return _finish(run_async(session, go()), args)
    finally:
        journal.close()


def cmd_resume(args: argparse.Namespace) -> int:
    from console.cli_common import run as run_async
    from console.runbook.journal import RunJournal
    from console.runbook.runner import RunbookRunner

    answers = _pairs(args.answer, "--answer")
    journal = RunJournal()
    run = journal.get(args.run)
    from console.runbook.durable.client import durable_info

    info = durable_info(journal, run.id)
    if info is not None:
        from console.cli_runbook_durable import cmd_resume_durable

        return cmd_resume_durable(args, journal, run, info, answers)
    if getattr(args, "context", None) is None:
        args.context = run.context
    session = session_for(args)

    async def go() -> Progress:
        runner = RunbookRunner.resume(session, journal, args.run, on_event=_printer(args))
        for step, value in answers.items():
            runner.answer(step, value)
        if runner.run.status in ("failed",) and args.retry_failed:
            journal.update_run(runner.run.id, status="running")
            if runner.run.cursor:
                journal.set_step(runner.run.id, runner.run.cursor, "pending")
            runner.run = journal.get(runner.run.id)
        return await _drive(runner, args)

    try:
        return _finish(run_async(session, go()), args)
    finally:
        journal.close()


def cmd_approve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from console.config import load_config
    from console.runbook.journal import RunJournal
    from console.runbook.runner import approve, current_identity

    config = load_config(Path(args.config) if getattr(args, "config", None) else None)
    identity = current_identity(config)
    from console.runbook.durable.client import durable_info

    journal = RunJournal()
    try:
        info = durable_info(journal, args.run)
        if info is not None:  # the workflow records it and goes on by itself
            from console.cli_runbook_durable import approve_durable

            run = journal.get(args.run)
            approve_durable(run, info, args.step, identity, args)
        else:
            run = approve(journal, args.run, args.step, identity)
    finally:
        journal.close()
    data = {"run": run.id, "step": args.step, "approved_by": identity}
    data["durable"] = info.as_dict() if info else None
    if output_format(args) == "table":
        then = "the worker goes on" if info else f"continue with: opsdeck runbook resume {run.id}"
        print(f"step {args.step} of run {run.id} approved by {identity}; {then}")
    else:
        dump(data, output_format(args))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from console.runbook.journal import RunJournal

    journal = RunJournal()
    try:
        fmt = output_format(args)
        if args.run:
            from console.cli_runbook_durable import run_data
            from console.runbook.durable.client import durable_info

            run = journal.get(args.run)
            data = run_data(journal, run, durable_info(journal, run.id))
            data["transcript"] = journal.transcript(run.id)
            if fmt != "table":
                dump(data, fmt)
                return 0
            where = f", durable: {data['durable']['workflow_id']}" if data["durable"] else ""
            by = f"by {run.identity}, {run.created}{where}"
            print(f"run {run.id}: {run.runbook} {run.status} ({by})")
            if data["waiting"]:
                print(f"  waiting: {data['waiting']['kind']}: {data['waiting']['prompt']}")
            for step in data["steps"]:
                print(f"  {step['state']:<9} {step['id']:<20} {step['message']}")
            print("Transcript:")
            for note in data["transcript"]:
                print(f"  {note['time']}  {note['text']}")
            return 0
        from console.cli_runbook_durable import run_rows

        rows = run_rows(journal, journal.runs(args.limit))
        emit(
            rows,
            fmt,
            columns=[
                ("RUN", "id"),
                ("RUNBOOK", "runbook"),
                ("STATUS", "status"),
                ("STEP", "step"),
                ("WHERE", "where"),
                ("WAITS ON", "waits_on"),
                ("BY", "identity"),
                ("UPDATED", "updated"),
                ("MESSAGE", "message"),
            ],
            empty="No runbook runs yet.",
        )
        return 0
    finally:
        journal.close()
