"""`opsdeck runbook run --durable` and the verbs that reach a durable run.

The CLI journals the run as a local run does, marks it durable and starts its Temporal
workflow; from then on only the worker (`opsdeck worker`) drives it. Following a run
reads the shared journal (it shows progress even while no worker runs), and answers go
to the workflow as signals, so killing the CLI never stops or repeats anything.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.cli_common import output_format, session_for
from console.errors import PolicyDenied, UsageError
from console.output import dump
from console.runbook.durable import client as durable

if TYPE_CHECKING:
    from temporalio.client import Client

    from console.runbook.durable.client import DurableInfo
    from console.runbook.journal import RunJournal, RunRecord
    from console.runbook.schema import Runbook
    from console.session import Session

EXIT_WAITING = 4
POLL_SECONDS = 0.3


def _start_input(session: Session, run_id: str, *, yes: bool) -> Any:
    from console.runbook.durable.types import DurableStart

    return DurableStart(
        run_id=run_id,
        context=session.context.name,
        identity=session.gate.identity.as_input(),
        read_only=session.read_only,
        yes=yes,
        heartbeat_seconds=durable.heartbeat_seconds(session.context),
        recheck_seconds=durable.recheck_seconds(session.context),
    )


def cmd_run_durable(
    args: argparse.Namespace, book: Runbook, params: dict[str, str], answers: dict[str, str]
) -> int:
    from console.cli_common import run as run_async
    from console.runbook.journal import RunJournal
    from console.runbook.runner import RunbookRunner

    session = session_for(args)
    journal = RunJournal()
    host = durable.host_engine(session)  # config errors before anything is journaled
    queue = durable.task_queue(session.context, getattr(args, "task_queue", None))

    async def go() -> int:
        client = await durable.client_for(session, host)
        runner = RunbookRunner.start(
            session,
            journal,
            book,
            params,
            answers=answers,
            engine=args.engine,
            dry_run=args.dry_run,
        )
        run_id = runner.run.id
        info = durable.mark_durable(journal, run_id, queue, host)
        start = _start_input(session, run_id, yes=bool(args.yes))
        try:
            await durable.start_workflow(client, info, start)
        except Exception as exc:
            journal.update_run(run_id, status="failed", message=f"workflow not started: {exc}")
            raise
        if output_format(args) == "table":
            print(
                f"run {run_id}: {book.title} ({book.name}), durable: workflow "
                f"{info.workflow_id} on task queue {queue}",
                flush=True,
            )
        if args.detach:
            return _report(journal, journal.get(run_id), info, None, args)
        return await follow(client, journal, info, run_id, args, session.gate.identity.user)

    return _guarded(lambda: run_async(session, go()), journal)


def _guarded(body: Any, journal: RunJournal) -> int:
    try:
        code: int = body()
        return code
    except KeyboardInterrupt:
        print(
            "opsdeck: stopped following; the run goes on on the worker "
            "(`opsdeck runbook runs RUN` shows it)",
            file=sys.stderr,
        )
        return 130
    finally:
        journal.close()


async def follow(
    client: Client,
    journal: RunJournal,
    info: DurableInfo,
    run_id: str,
    args: argparse.Namespace,
    who: str,
    *,
    moved_after: int = 0,
) -> int:
    """Print the run's transcript as it grows and answer what a terminal can answer.

    ``moved_after``: the transcript entries already shown or stale; a wait is believed
    only once the transcript is longer (a resume asked the worker to look again; until
    it has, the journal's wait is from before).
    """
    from console.cli_runbook import _prompt
    from console.runbook.durable.types import Answer
    from console.runbook.runner import Waiting

    fmt = output_format(args)
    seen = moved_after  # a resume shows what happens from now on, as a local resume does
    asked: tuple[str, int] | None = None
    checks = 0
    while True:
        notes = journal.transcript(run_id)
        if fmt == "table":
            for note in notes[seen:]:
                if not note["text"].startswith("durable: "):
                    print(f"  {note['text']}", flush=True)
        seen = len(notes)
        run = journal.get(run_id)
        if run.status in ("done", "failed"):
            return _report(journal, run, info, None, args)
        waiting = durable.waiting_of(run, journal.steps(run_id))
        if waiting is not None and waiting["kind"] != "approval" and waiting["step"] in run.answers:
            waiting = None  # answered: the worker has yet to move the step on
        if seen <= moved_after:
            waiting = None
        if waiting is not None and asked != (waiting["step"], seen):
            asked = (waiting["step"], seen)
            live = await durable.query_waiting(client, info)
            if live is not None and live.get("step") == waiting["step"]:
                waiting = live  # carries the plan to show before a confirmation
            phrase = (waiting.get("plan") or {}).get("confirmation")
            auto = args.yes and (
                waiting["kind"] == "manual" or (waiting["kind"] == "confirm" and phrase is None)
            )
            if not auto:  # --yes: the workflow confirms by itself
                wait = Waiting(
                    waiting["step"],
                    waiting["kind"],
                    waiting["prompt"],
                    tuple(waiting["choices"]),
                    waiting.get("plan"),
                )
                answer = _prompt(wait, bool(args.yes), fmt)
                if answer is None:
                    return _report(journal, run, info, waiting, args)
                await durable.send_answer(client, info, Answer(run_id, wait.step, answer, who))
        checks += 1
        if checks % 10 == 0 and not await durable.is_open(client, info):
            run = journal.get(run_id)
            if run.status not in ("done", "failed"):
                print(
                    f"opsdeck: workflow {info.workflow_id} ended with the run {run.status}; "
                    f"`opsdeck runbook resume {run_id}` starts it again",
                    file=sys.stderr,
                )
                return 1
        await asyncio.sleep(POLL_SECONDS)


def run_data(journal: RunJournal, run: RunRecord, info: DurableInfo | None) -> dict[str, Any]:
    from console.cli_runbook import _progress_data
    from console.runbook.runner import Progress

    steps = journal.steps(run.id)
    data = _progress_data(Progress(run, steps))
    data["waiting"] = durable.waiting_of(run, steps)
    data["durable"] = info.as_dict() if info else None
    return data


def _report(
    journal: RunJournal,
    run: RunRecord,
    info: DurableInfo,
    waiting: dict[str, Any] | None,
    args: argparse.Namespace,
) -> int:
    fmt = output_format(args)
    data = run_data(journal, run, info)
    if waiting is not None:
        data["waiting"] = waiting
    if fmt != "table":
        dump(data, fmt)
    else:
        print(f"run {run.id}: {run.status}" + (f" - {run.message}" if run.message else ""))
    if run.status == "done":
        return 0
    if run.status == "failed":
        return 1
    if waiting is None:
        return 0  # --detach: it runs on the worker
    step, kind = waiting["step"], waiting["kind"]
    if kind == "approval":
        how = f"another person runs `opsdeck runbook approve {run.id} {step}`"
        if "policy approval" in waiting["prompt"]:  # the prompt names both commands
            how = f"{waiting['prompt']} (the worker also looks again every runbook-recheck)"
        print(f"opsdeck: waiting on the worker: {how}", file=sys.stderr)
        return EXIT_WAITING
    phrase = (waiting.get("plan") or {}).get("confirmation")
    value = {"decision": "CHOICE", "manual": "done"}.get(kind) or phrase or "yes"
    choices = f" (choices: {', '.join(waiting['choices'])})" if waiting["choices"] else ""
    print(
        f"opsdeck: waiting on the worker: {waiting['prompt']}; answer with: "
        f"opsdeck runbook answer {run.id} {step} {value}{choices}",
        file=sys.stderr,
    )
    return 2


# -- answer / approve / resume ------------------------------------------------------


def _host_session(run: RunRecord, info: DurableInfo, args: argparse.Namespace) -> Session:
    if getattr(args, "context", None) is None:
        args.context = run.context
    session = session_for(args)
    if info.engine not in session.engines:
        raise UsageError(
            f"run {run.id} runs on engine {info.engine!r}, not in context {session.context.name!r}"
        )
    return session


def check_answer(run: RunRecord, step_id: str, value: str) -> None:
    """Refuse what the runner would fail the step for, before it reaches the run."""
    from console.runbook.loader import parse_runbook

    if run.status in ("done", "failed"):
        raise UsageError(f"run {run.id} is {run.status}; there is nothing to answer")
    step = parse_runbook(run.source, run.path).step(step_id)
    if step.kind == "approval":
        raise UsageError(
            f"step {step_id!r} is an approval: `opsdeck runbook approve {run.id} {step_id}`"
        )
    if step.kind == "check":
        raise UsageError(f"step {step_id!r} is a check; it takes no answer")
    if step.kind == "decision" and value not in step.choices:
        raise UsageError(f"step {step_id!r}: {value!r} is not one of: {', '.join(step.choices)}")


def check_approval(run: RunRecord, step_id: str, identity: str) -> None:
    """The checks runner.approve makes, done here so a refusal is exit 3 at once."""
    from console.runbook.loader import parse_runbook

    step = parse_runbook(run.source, run.path).step(step_id)
    if step.kind != "approval":
        raise UsageError(f"step {step_id!r} of run {run.id} is a {step.kind} step, not an approval")
    if identity == run.identity:
        raise PolicyDenied(
            f"{identity} started run {run.id} and cannot approve it",
            hint="a second person approves (their OPSDECK_IDENTITY or config `identity`)",
        )
    allowed = [a.strip() for a in step.approvers.split(",") if a.strip()]
    if allowed and identity not in allowed:
        raise PolicyDenied(
            f"{identity} may not approve step {step_id!r} (approvers: {step.approvers})"
        )


def signal(run: RunRecord, info: DurableInfo, args: argparse.Namespace, answer: Any) -> None:
    """Send one answer (or approval) to the run's workflow."""
    from console.cli_common import run as run_async

    session = _host_session(run, info, args)

    async def go() -> None:
        client = await durable.client_for(session, info.engine)
        if not await durable.is_open(client, info):
            raise UsageError(
                f"the workflow of run {run.id} is not running",
                hint=f"`opsdeck runbook resume {run.id}` starts it again (it takes --answer "
                "STEP=VALUE; approve once it waits again)",
            )
        await durable.send_answer(client, info, answer)

    run_async(session, go())


def cmd_resume_durable(
    args: argparse.Namespace,
    journal: RunJournal,
    run: RunRecord,
    info: DurableInfo,
    answers: dict[str, str],
) -> int:
    """Answers become signals; a workflow that ended (failed run retried, or terminated)
    is started again under the same id: the journal says where the run stands."""
    from console.cli_common import run as run_async
    from console.runbook.durable.types import Answer
    from console.runbook.runner import current_identity

    session = _host_session(run, info, args)
    for step, value in answers.items():
        if run.status != "failed":  # a retried failed run takes answers for its step
            check_answer(run, step, value)

    async def go() -> int:
        client = await durable.client_for(session, info.engine)
        who = current_identity(session.config)
        if run.status == "failed" and args.retry_failed:
            journal.update_run(run.id, status="running")
            if run.cursor:
                journal.set_step(run.id, run.cursor, "pending")
        if not await durable.is_open(client, info):
            if journal.get(run.id).status in ("done", "failed"):
                return _report(journal, journal.get(run.id), info, None, args)
            for step, value in answers.items():
                journal.update_run(run.id, answers=journal.get(run.id).answers | {step: value})
            journal.note(run.id, f"durable: workflow started again by {who}")
            baseline = len(journal.transcript(run.id))
            await durable.start_workflow(
                client, info, _start_input(session, run.id, yes=bool(args.yes))
            )
        else:
            baseline = len(journal.transcript(run.id))
            for step, value in answers.items():
                await durable.send_answer(client, info, Answer(run.id, step, value, who))
            await durable.poke(client, info)
        return await follow(client, journal, info, run.id, args, who, moved_after=baseline)

    return _guarded(lambda: run_async(session, go()), journal)


def cmd_answer(args: argparse.Namespace) -> int:
    """`opsdeck runbook answer RUN STEP VALUE`: a durable run gets a signal; a local run
    gets the answer journaled, for its next `opsdeck runbook resume`."""
    from console.config import load_config
    from console.runbook.durable.types import Answer
    from console.runbook.journal import RunJournal
    from console.runbook.runner import current_identity

    config = load_config(Path(args.config) if getattr(args, "config", None) else None)
    who = current_identity(config)
    journal = RunJournal()
    try:
        run = journal.get(args.run)
        check_answer(run, args.step, args.value)
        info = durable.durable_info(journal, run.id)
        if info is not None:
            signal(run, info, args, Answer(run.id, args.step, args.value, who))
            then = "the worker records it and the run goes on"
        else:
            journal.update_run(run.id, answers=run.answers | {args.step: args.value})
            journal.note(run.id, f"{args.step}: answered {args.value!r} by {who}", args.step)
            then = f"continue with: opsdeck runbook resume {run.id}"
    finally:
        journal.close()
    data = {"run": run.id, "step": args.step, "value": args.value, "identity": who}
    data["durable"] = info.as_dict() if info else None
    if output_format(args) == "table":
        print(f"step {args.step} of run {run.id}: answered {args.value!r}; {then}")
    else:
        dump(data, output_format(args))
    return 0


def approve_durable(
    run: RunRecord, info: DurableInfo, step: str, identity: str, args: argparse.Namespace
) -> None:
    from console.runbook.durable.types import Answer

    check_approval(run, step, identity)
    signal(run, info, args, Answer(run.id, step, "approve", identity, kind="approve"))


def run_rows(journal: RunJournal, runs: list[RunRecord]) -> list[dict[str, Any]]:
    """`runbook runs`: each run's summary, where it runs and what it waits on."""
    rows = []
    for run in runs:
        info = durable.durable_info(journal, run.id)
        waiting = (
            durable.waiting_of(run, journal.steps(run.id)) if run.status == "waiting" else None
        )
        rows.append(
            run.summary()
            | {
                "durable": info.as_dict() if info else None,
                "where": f"temporal:{info.task_queue}" if info else "local",
                "waiting": waiting,
                "waits_on": f"{waiting['kind']} {waiting['step']}" if waiting else "",
            }
        )
    return rows
