"""Running an experiment off the main thread, watched and abortable (the TUI's `:chaos`).

- chaoslib's ``Runner.run`` installs signal handlers (SIGTERM, SIGUSR1/2) for the run,
  which Python allows on the main thread only; the TUI runs experiments in a worker
  thread, so there the run goes without them (the handlers are put back after).
- A RunEventHandler reports every phase, hypothesis and activity as a ``RunEvent``
  (plain data), so a caller can show live progress without parsing text.
- ``abort``: once the event is set, the handler stops the run at the next activity
  boundary (an activity ending, a phase starting) by raising ``RunAborted``, a
  KeyboardInterrupt, which chaoslib records as ``interrupted`` like Ctrl-C. An
  activity already running is not cut short: Python cannot interrupt a blocking call
  in another thread. chaoslib's default rollback strategy plays no rollbacks for an
  interrupted run, so an aborted run's rollbacks are then played with
  ``launcher.rollback_run`` (each claimed once in the run store, as `chaos rollback`
  does). An abort that comes while chaoslib already plays the rollbacks changes nothing.
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
    (``met``), ``aborting`` (the run stopped, its rollbacks follow)."""

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
    aborted: bool  # stopped by ``abort`` (the run is stored ``interrupted``)
    rollback: RollbackReport | None  # the rollbacks played after an abort


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
        raised = False

        def _stop_if_asked(self) -> None:
            if abort.is_set() and not self.raised and self.phase != "rollbacks":
                self.raised = True
                raise RunAborted("aborted by the operator")

        def _enter(self, phase: str) -> None:
            self.phase = phase
            emit(RunEvent("phase", phase))

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

        def start_hypothesis_after(self, experiment: Any) -> None:
            self._stop_if_asked()
            self._enter("steady-state after")

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
    if not watcher.raised:
        return WatchedRun(result, False, None)
    report = None
    if not result.row.dry_run:
        emit(RunEvent("aborting", "rollbacks", run_id=result.row.id))
        report = rollback_run(store, result.row)
        for run in report.ran:
            emit(activity_event("rollbacks", run.get("activity"), run))
    return WatchedRun(result, True, report)
