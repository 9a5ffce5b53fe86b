"""Running an experiment off the main thread, watched and abortable (the TUI's `:chaos`).

- chaoslib's ``Runner.run`` installs signal handlers (SIGTERM, SIGUSR1/2) for the run,
  which Python allows on the main thread only; the TUI runs experiments in a worker
  thread, so there the run goes without them (the handlers are put back after).
- A RunEventHandler reports every phase, hypothesis and activity as a ``RunEvent``
  (plain data), so a caller can show live progress without parsing text.
- ``abort``: once the event is set, the run stops at the next activity boundary (an
  activity ending, a phase starting); an activity already running is not cut short
  (Python cannot interrupt a blocking call in another thread). chaoslib's own ways to
  stop a run are signals, which cannot reach a worker thread, so instead:
  - during the method, the handler sets the journal's status to ``aborted``, as the
    safeguards do (console.experiments.safeguards): chaoslib stops the method after
    that activity, skips the hypothesis after and plays the rollbacks itself (its
    default strategy plays them for an aborted run), so they show live and land in
    the journal, claimed in the run store by the launcher's handler;
  - before the method it raises ``RunAborted``, a KeyboardInterrupt, which chaoslib
    records as ``interrupted``: nothing was changed, nothing is rolled back;
  - after the method (hypothesis after) it raises ``RunAborted`` too; chaoslib plays
    no rollbacks for an interrupted run, so they are then played with
    ``launcher.rollback_run`` (each claimed once, as `chaos rollback` does).
  An abort that comes while the rollbacks are already playing changes nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from console.experiments.launcher import RollbackReport, RunResult, launch, rollback_run
from console.experiments.report import failure_text
from console.experiments.source import ExperimentFile
from console.experiments.store import ChaosRunStore, RunRow

PHASES = ("steady-state before", "method", "steady-state after", "rollbacks")


class RunAborted(KeyboardInterrupt):
    """Raised from the watch handler to stop a run; chaoslib catches it."""


@dataclass(frozen=True)
class RunEvent:
    """One step of a run, for display. ``kind``: ``created`` (``run_id``), ``phase``,
    ``activity`` (``status`` ``running`` at its start, then chaoslib's), ``hypothesis``
    (``met``), ``aborting`` (an abort took effect in ``phase``), ``rolling back`` (the
    rollbacks of an interrupted run are played after it)."""

    kind: str
    phase: str = ""
    name: str = ""
    type: str = ""
    status: str = ""
    duration: float | None = None
    error: str | None = None
    met: bool | None = None
    run_id: str = ""


@dataclass(frozen=True)
class WatchedRun:
    result: RunResult
    aborted: bool  # stopped by ``abort`` (stored ``aborted``, or ``interrupted``)
    rollback: RollbackReport | None  # rollbacks played after an interrupted run


Emit = Callable[[RunEvent], None]


def activity_event(phase: str, activity: Any, run: Any = None) -> RunEvent:
    activity = activity if isinstance(activity, dict) else {}
    if run is None:
        return RunEvent(
            "activity",
            phase,
            str(activity.get("name") or ""),
            str(activity.get("type") or ""),
            "running",
        )
    duration = run.get("duration")
    return RunEvent(
        "activity",
        phase,
        str(activity.get("name") or ""),
        str(activity.get("type") or ""),
        str(run.get("status") or "?"),
        float(duration) if isinstance(duration, int | float) else None,
        failure_text(run.get("exception")),
    )


def make_watcher(emit: Emit, abort: threading.Event) -> Any:
    """A chaoslib RunEventHandler that emits RunEvents and stops the run on ``abort``."""
    from chaoslib.run import RunEventHandler

    class Watcher(RunEventHandler):  # type: ignore[misc]
        phase = ""
        journal: dict[str, Any] | None = None
        method_started = False
        interrupted = False  # stopped with RunAborted
        aborted = False  # the method stopped through the journal's status

        def _stop_if_asked(self) -> None:
            if not abort.is_set() or self.interrupted or self.aborted:
                return
            if self.phase == "rollbacks":
                return
            if self.phase == "method" and self.journal is not None:
                self.aborted = True
                if self.journal.get("status") not in ("failed", "interrupted", "aborted"):
                    self.journal["status"] = "aborted"  # chaoslib stops the method here
                emit(RunEvent("aborting", "method"))
                return
            self.interrupted = True
            emit(RunEvent("aborting", self.phase))
            raise RunAborted("aborted by the operator")

        def _enter(self, phase: str) -> None:
            self.phase = phase
            emit(RunEvent("phase", phase))

        def started(self, experiment: Any, journal: Any) -> None:
            self.journal = journal if isinstance(journal, dict) else None

        def start_hypothesis_before(self, experiment: Any) -> None:
            self._stop_if_asked()
            self._enter("steady-state before")

        def hypothesis_before_completed(self, experiment: Any, state: Any, journal: Any) -> None:
            met = bool(state and state.get("steady_state_met"))
            emit(RunEvent("hypothesis", "steady-state before", met=met))
            self._stop_if_asked()

        def start_method(self, experiment: Any) -> None:
            self._stop_if_asked()
            self._enter("method")
            self.method_started = True

        def start_hypothesis_after(self, experiment: Any) -> None:
            self._enter("steady-state after")  # the method is over: no status abort now
            self._stop_if_asked()

        def hypothesis_after_completed(self, experiment: Any, state: Any, journal: Any) -> None:
            met = bool(state and state.get("steady_state_met"))
            emit(RunEvent("hypothesis", "steady-state after", met=met))

        def start_rollbacks(self, experiment: Any) -> None:
            self._enter("rollbacks")

        def start_activity(self, activity: Any) -> None:
            emit(activity_event(self.phase, activity))

        def activity_completed(self, activity: Any, run: Any) -> None:
            emit(activity_event(self.phase, activity, run))
            self._stop_if_asked()

    return Watcher()


_signals_lock = threading.Lock()


@contextlib.contextmanager
def _no_signal_handlers_off_main_thread() -> Iterator[None]:
    if threading.current_thread() is threading.main_thread():
        yield
        return
    import chaoslib.run

    with _signals_lock:  # one threaded run at a time swaps chaoslib's helper
        saved = chaoslib.run.exit_signals
        chaoslib.run.exit_signals = contextlib.nullcontext
        try:
            yield
        finally:
            chaoslib.run.exit_signals = saved


def run_watched(
    experiment: ExperimentFile,
    store: ChaosRunStore,
    *,
    emit: Emit,
    abort: threading.Event,
    context: str,
    config: str,
    confirm: str | None,
    variables: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> WatchedRun:
    """launcher.launch with live RunEvents; an aborted run's rollbacks are played after."""

    def created(row: RunRow) -> None:
        emit(RunEvent("created", run_id=row.id))

    watcher = make_watcher(emit, abort)
    with _no_signal_handlers_off_main_thread():
        result = launch(
            experiment,
            store,
            context=context,
            config=config,
            confirm=confirm,
            variables=dict(variables or {}),
            dry_run=dry_run,
            on_created=created,
            handlers=[watcher],
        )
    if not (watcher.interrupted or watcher.aborted):
        return WatchedRun(result, False, None)
    report = None
    if watcher.interrupted and watcher.method_started and not result.row.dry_run:
        emit(RunEvent("rolling back", "rollbacks", run_id=result.row.id))
        report = rollback_run(store, result.row)
        for run in report.ran:
            emit(activity_event("rollbacks", run.get("activity"), run))
    return WatchedRun(result, True, report)
