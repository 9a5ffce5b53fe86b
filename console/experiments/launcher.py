"""Running an experiment with chaoslib's Runner, and its rollbacks later on demand.

The launcher sets the ``opsdeck_*`` configuration keys the extension reads (context,
config path, run id, title, typed confirmation), registers a RunEventHandler that prints
each activity to stderr, rewrites the run's Chaos Toolkit journal after every activity
(so a killed run leaves what it did) and records the rollbacks chaoslib plays, so that
``chaos rollback RUN`` later plays only the ones not done yet, each exactly once. The
experiment's ``safeguards`` are watched during the method by safeguards.Guard.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from console.experiments.activities import activities
from console.experiments.safeguards import make_guard, resolved
from console.experiments.source import ExperimentFile, parse_experiment
from console.experiments.store import ChaosRunStore, RunRow
from console.experiments.validate import quiet_chaoslib

ROLLBACK_STRATEGIES = ("default", "always", "never", "deviated")
EXIT_OK, EXIT_FAILED, EXIT_POLICY, EXIT_ABORTED, EXIT_INTERRUPTED = 0, 1, 3, 4, 130


def opsdeck_configuration(
    *,
    context: str,
    config: str,
    run_id: str,
    title: str,
    confirm: str | None,
    approval: str | None = None,
) -> dict[str, Any]:
    keys: dict[str, Any] = {
        "opsdeck_context": context,
        "opsdeck_config": config,
        "opsdeck_run_id": run_id,
        "opsdeck_experiment": title,
    }
    if confirm is not None:
        keys["opsdeck_confirm"] = confirm
    if approval is not None:
        keys["opsdeck_approval"] = approval
    return keys


def write_journal(path: Path, journal: dict[str, Any]) -> None:
    """Atomically: a reader (or a kill) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(journal, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _index_of(activity: Any, rollbacks: list[Any], taken: set[int]) -> int | None:
    for test in (lambda a: a is activity, lambda a: a == activity):
        for i, candidate in enumerate(rollbacks):
            if i not in taken and test(candidate):
                return i
    return None


def _failure(run: dict[str, Any]) -> str:
    from console.experiments.report import failure_text

    return failure_text(run.get("exception")) or ""


def activity_line(run: dict[str, Any], prefix: str = "") -> str:
    activity = run.get("activity") or {}
    status = str(run.get("status") or "?").upper()
    duration = run.get("duration")
    took = f" ({duration:.1f}s)" if isinstance(duration, int | float) else ""
    text = f"{prefix}{status:<9} {activity.get('type', '?')} {activity.get('name', '?')}{took}"
    failure = _failure(run)
    return f"{text}: {failure}" if failure else text


@dataclass
class Progress:
    """What the handler saw, for the exit code."""

    policy_denied: bool = False
    rollbacks_ran: int = 0
    lines: list[str] = field(default_factory=list)


def make_handler(
    store: ChaosRunStore, row: RunRow, rollbacks: list[Any], out: IO[str] | None
) -> tuple[Any, Progress]:
    from chaoslib.run import RunEventHandler

    progress = Progress()
    journal_path = Path(row.journal_path)
    lock = threading.Lock()

    def say(text: str) -> None:
        progress.lines.append(text)
        if out is not None:
            out.write(text + "\n")
            out.flush()

    class Handler(RunEventHandler):  # type: ignore[misc]
        journal: dict[str, Any] | None = None
        in_rollbacks = False
        taken: set[int] = set()
        current: dict[int, int] = {}  # id(activity) -> rollback index

        def _save(self) -> None:
            if self.journal is not None:
                write_journal(journal_path, self.journal)

        def started(self, experiment: Any, journal: Any) -> None:
            self.journal = journal
            say(f"Run {row.id}: {row.title} (journal {journal_path})")
            with lock:
                self._save()

        def start_hypothesis_before(self, experiment: Any) -> None:
            say("steady-state hypothesis (before)")

        def hypothesis_before_completed(self, experiment: Any, state: Any, journal: Any) -> None:
            met = bool(state and state.get("steady_state_met"))
            say(f"hypothesis before: {'met' if met else 'NOT met'}")

        def start_method(self, experiment: Any) -> None:
            say("method")

        def start_hypothesis_after(self, experiment: Any) -> None:
            say("steady-state hypothesis (after)")

        def hypothesis_after_completed(self, experiment: Any, state: Any, journal: Any) -> None:
            met = bool(state and state.get("steady_state_met"))
            say(f"hypothesis after: {'met' if met else 'NOT met (deviated)'}")

        def start_rollbacks(self, experiment: Any) -> None:
            self.in_rollbacks = True
            say("rollbacks")

        def rollbacks_completed(self, experiment: Any, journal: Any) -> None:
            self.in_rollbacks = False

        def start_activity(self, activity: Any) -> None:
            if not self.in_rollbacks:
                return
            with lock:
                idx = _index_of(activity, rollbacks, self.taken)
                if idx is not None:
                    self.taken.add(idx)
                    self.current[id(activity)] = idx
                    store.claim_rollback(row.id, idx, str(activity.get("name", "")))

        def activity_completed(self, activity: Any, run: Any) -> None:
            with lock:
                idx = self.current.pop(id(activity), None)
                if idx is not None:
                    ok = run.get("status") == "succeeded"
                    store.rollback_done(row.id, idx, "done" if ok else "failed")
                    progress.rollbacks_ran += 1
                if "PolicyDenied" in _failure(run):
                    progress.policy_denied = True
                say(activity_line(run, "  "))
                self._save()

        def finish(self, journal: Any) -> None:
            self.journal = journal
            with lock:
                self._save()

    return Handler(), progress


def hypothesis_met(journal: dict[str, Any]) -> bool:
    states = journal.get("steady_states") or {}
    for key in ("before", "after"):
        state = states.get(key)
        if state is not None and not state.get("steady_state_met"):
            return False
    return not journal.get("deviated")


def exit_code(journal: dict[str, Any], progress: Progress) -> int:
    status = journal.get("status")
    if progress.policy_denied:
        return EXIT_POLICY
    if status == "interrupted":
        return EXIT_INTERRUPTED
    if status == "aborted":
        return EXIT_ABORTED if progress.rollbacks_ran else EXIT_FAILED
    if status == "completed" and hypothesis_met(journal):
        return EXIT_OK
    return EXIT_FAILED


@dataclass(frozen=True)
class RunResult:
    row: RunRow
    journal: dict[str, Any]
    exit_code: int
    lines: list[str]


def launch(
    experiment: ExperimentFile,
    store: ChaosRunStore,
    *,
    context: str,
    config: str,
    confirm: str | None,
    variables: dict[str, Any],
    dry_run: bool = False,
    rollback_strategy: str = "default",
    out: IO[str] | None = None,
    on_created: Callable[[RunRow], None] | None = None,
    handlers: Sequence[Any] = (),
    approval: str | None = None,
) -> RunResult:
    """Run the (already validated) experiment; the run is stored before it starts.

    ``handlers``: more chaoslib RunEventHandlers, called after opsdeck's own (the TUI
    watches progress and aborts through one)."""
    from chaoslib.run import Runner
    from chaoslib.types import Dry, Strategy

    quiet_chaoslib()
    row = store.create(
        experiment_path=experiment.path,
        source=experiment.text,
        title=experiment.title,
        context=context,
        config=config,
        dry_run=dry_run,
        variables=variables,
    )
    if on_created is not None:
        on_created(row)
    data = copy.deepcopy(experiment.data)
    data["configuration"] = {
        **(data.get("configuration") or {}),
        **variables,
        **opsdeck_configuration(
            context=context,
            config=config,
            run_id=row.id,
            title=experiment.title,
            confirm=confirm,
            approval=approval,
        ),
    }
    if dry_run:
        data["dry"] = Dry.ACTIONS
    handler, progress = make_handler(store, row, data.get("rollbacks") or [], out)
    guards = resolved(activities(experiment), experiment.data.get("safeguards"))
    guard = make_guard(guards, out, progress.lines)
    settings = {"runtime": {"rollbacks": {"strategy": rollback_strategy}}}
    journal: dict[str, Any] = {}
    try:
        with Runner(Strategy.DEFAULT) as runner:
            runner.register_event_handler(handler)
            runner.register_event_handler(guard)
            for extra in handlers:
                runner.register_event_handler(extra)
            journal = runner.run(data, settings, experiment_vars=({}, {}))
    except Exception:
        store.finish(row.id, "failed")  # e.g. a configuration entry chaoslib cannot load
        raise
    except BaseException:
        store.finish(row.id, "interrupted")
        raise
    store.finish(row.id, str(journal.get("status")), deviated=bool(journal.get("deviated")))
    write_journal(Path(row.journal_path), journal)
    return RunResult(store.get(row.id), journal, exit_code(journal, progress), progress.lines)


def read_journal(row: RunRow) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(row.journal_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stored_experiment(row: RunRow) -> ExperimentFile:
    return parse_experiment(row.source, row.experiment_path)


def restore_ledgers(configuration: dict[str, Any], journal: dict[str, Any] | None) -> None:
    """Hand each provider module what its actions returned in the run, before a rollback
    in a new process: a module with ``opsdeck_restore(configuration, [(func, output)])``
    can rebuild what its rollbacks need (the run's own process kept it in memory)."""
    import importlib

    done: dict[str, list[tuple[str, Any]]] = {}
    for run in (journal or {}).get("run") or []:
        activity = run.get("activity") or {}
        provider = activity.get("provider") or {}
        if (
            activity.get("type") == "action"
            and run.get("status") == "succeeded"
            and provider.get("type") == "python"
        ):
            done.setdefault(str(provider.get("module")), []).append(
                (str(provider.get("func")), run.get("output"))
            )
    for module, outputs in done.items():
        try:
            hook = getattr(importlib.import_module(module), "opsdeck_restore", None)
        except ImportError:
            continue
        if callable(hook):
            hook(configuration, outputs)


@dataclass
class RollbackReport:
    ran: list[dict[str, Any]] = field(default_factory=list)  # activity runs
    skipped: list[str] = field(default_factory=list)  # names already done

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if any(r.get("status") != "succeeded" for r in self.ran) else EXIT_OK


def rollback_run(store: ChaosRunStore, row: RunRow, out: IO[str] | None = None) -> RollbackReport:
    """Play the run's rollbacks not yet done, each once, with the run's configuration."""
    from chaoslib.activity import execute_activity
    from chaoslib.caching import cache_activities
    from chaoslib.configuration import load_configuration, load_dynamic_configuration
    from chaoslib.secret import load_secrets

    quiet_chaoslib()
    data = copy.deepcopy(stored_experiment(row).data)
    data["configuration"] = {
        **(data.get("configuration") or {}),
        **row.variables,
        **opsdeck_configuration(
            context=row.context, config=row.config, run_id=row.id, title=row.title, confirm=None
        ),
    }
    configuration = load_configuration(data["configuration"])
    secrets = load_secrets(data.get("secrets") or {}, configuration)
    configuration = load_dynamic_configuration(configuration, secrets)
    cache_activities(data)
    restore_ledgers(configuration, read_journal(row))
    report = RollbackReport()
    for idx, activity in enumerate(data.get("rollbacks") or []):
        name = str(activity.get("name") or activity.get("ref") or idx)
        if not store.claim_rollback(row.id, idx, name):
            report.skipped.append(name)
            continue
        try:
            run = execute_activity(data, activity, configuration, secrets, dry=None)
        except BaseException:
            store.rollback_done(row.id, idx, "failed")
            raise
        ok = run.get("status") == "succeeded"
        store.rollback_done(row.id, idx, "done" if ok else "failed")
        report.ran.append(run)
        if out is not None:
            out.write(activity_line(run, "  ") + "\n")
            out.flush()
    journal = read_journal(row)
    if journal is not None and report.ran:
        journal.setdefault("rollbacks", []).extend(report.ran)
        write_journal(Path(row.journal_path), journal)
    return report
