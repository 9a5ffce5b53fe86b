"""Safeguards: probes checked every ``frequency`` seconds during the method.

A safeguard is a Chaos Toolkit probe with a ``tolerance`` (or an SLO entry, see slo.py)
under the experiment's top-level ``safeguards``. The launcher registers a ``Guard``, a
chaoslib RunEventHandler: from the method's start to its end a thread runs each probe
(at once, then every ``frequency`` s) with the run's configuration and secrets, and
checks its tolerance with chaoslib's ``within_tolerance``. On the first breach (out of
tolerance, or the probe failed) it sets the journal's status to ``aborted``: chaoslib
stops the method after the activity that is running (Python cannot cut a blocking
call short), skips the hypothesis after, and plays the rollbacks, as for any aborted
run. The journal's ``extensions`` gets ``{"name": "opsdeck-safeguards", "tripped":
{name, value, tolerance, error, time}}``.

Why not chaostoolkit-addons' safeguards control: it stops the run with SIGUSR1
(``chaoslib.exit.exit_gracefully``), which chaoslib records as ``interrupted`` and for
which its default strategy plays no rollbacks, and a signal cannot reach a run in a
worker thread (the TUI) at all.
"""

from __future__ import annotations

import copy
import threading
import time
from datetime import UTC, datetime
from typing import IO, Any

from console.experiments.activities import Located
from console.experiments.report import SAFEGUARDS_EXTENSION, failure_text, tripped_safeguard
from console.experiments.source import Where

DEFAULT_FREQUENCY = 5.0  # seconds


def safeguard_problems(item: Located) -> list[tuple[Where, str]]:
    from chaoslib.exceptions import ChaosException
    from chaoslib.hypothesis import ensure_hypothesis_tolerance_is_valid

    activity = item.activity
    if "ref" in activity:
        return [((*item.where, "ref"), f"no probe named {activity['ref']!r} to refer to")]
    if activity.get("type") != "probe":
        return [((*item.where, "type"), "a safeguard is a probe (it must change nothing)")]
    if "tolerance" not in activity:
        return [(item.where, f"safeguard {item.name!r} needs a tolerance")]
    out: list[tuple[Where, str]] = []
    try:
        ensure_hypothesis_tolerance_is_valid(activity["tolerance"])
    except ChaosException as exc:
        out.append(((*item.where, "tolerance"), str(exc)))
    frequency = activity.get("frequency", DEFAULT_FREQUENCY)
    if isinstance(frequency, bool) or not isinstance(frequency, int | float) or frequency <= 0:
        out.append(((*item.where, "frequency"), "must be a number of seconds above 0"))
    return out


def resolved(items: list[Located], raw: Any) -> list[dict[str, Any]]:
    """The safeguards to run: a ``ref`` replaced by the probe it names (keeping the
    ref's ``frequency``)."""
    guards = [i.activity for i in items if i.phase == "safeguards"]
    out = []
    for guard, entry in zip(guards, raw if isinstance(raw, list) else [], strict=False):
        if isinstance(entry, dict) and "frequency" in entry:
            guard = {**guard, "frequency": entry["frequency"]}
        out.append(copy.deepcopy(guard))
    return out


def make_guard(probes: list[dict[str, Any]], out: IO[str] | None, lines: list[str]) -> Any:
    from chaoslib.activity import run_activity
    from chaoslib.hypothesis import within_tolerance
    from chaoslib.run import RunEventHandler

    class Guard(RunEventHandler):  # type: ignore[misc]
        def __init__(self) -> None:
            self.journal: dict[str, Any] = {}
            self.configuration: Any = None
            self.secrets: Any = None
            self.stop = threading.Event()
            self.thread: threading.Thread | None = None
            self.breach: dict[str, Any] | None = None

        def started(self, experiment: Any, journal: Any) -> None:
            self.journal = journal

        def running(self, experiment: Any, journal: Any, configuration: Any, secrets: Any,
                    schedule: Any, settings: Any) -> None:  # fmt: skip
            self.configuration, self.secrets = configuration, secrets

        def start_method(self, experiment: Any) -> None:
            if probes:
                self.thread = threading.Thread(target=self._watch, name="safeguards", daemon=True)
                self.thread.start()

        def method_completed(self, experiment: Any, state: Any = None) -> None:
            self._end()

        def finish(self, journal: Any) -> None:
            self._end()
            if self.breach is not None and tripped_safeguard(journal) is None:
                journal.setdefault("extensions", []).append(
                    {"name": SAFEGUARDS_EXTENSION, "tripped": self.breach}
                )

        def _end(self) -> None:
            self.stop.set()
            if self.thread is not None and self.thread is not threading.current_thread():
                self.thread.join()

        def _check(self, probe: dict[str, Any]) -> dict[str, Any] | None:
            value, error = None, None
            try:
                value = run_activity(probe, self.configuration, self.secrets)
                ok = within_tolerance(probe["tolerance"], value, self.configuration, self.secrets)
            except Exception as exc:
                ok, error = False, failure_text([f"{type(exc).__name__}: {exc}"])
            if ok:
                return None
            return {
                "name": probe.get("name"),
                "value": value,
                "tolerance": probe.get("tolerance"),
                "error": error,
                "time": datetime.now(UTC).isoformat(),
            }

        def _watch(self) -> None:
            due = [0.0] * len(probes)
            while not self.stop.is_set():
                for i, probe in enumerate(probes):
                    if time.monotonic() < due[i]:
                        continue
                    due[i] = time.monotonic() + float(probe.get("frequency", DEFAULT_FREQUENCY))
                    breach = self._check(probe)
                    if breach is not None and not self.stop.is_set():
                        self._trip(breach)
                        return
                self.stop.wait(max(0.0, min(due) - time.monotonic()))

        def _trip(self, breach: dict[str, Any]) -> None:
            self.breach = breach  # finish() records it: no new journal key from this thread
            if self.journal.get("status") not in ("failed", "interrupted", "aborted"):
                self.journal["status"] = "aborted"  # chaoslib stops after the current activity
            why = breach["error"] or f"value {breach['value']!r}, tolerance {breach['tolerance']}"
            text = f"SAFEGUARD {breach['name']} tripped ({why}): aborting the method"
            lines.append(text)
            if out is not None:
                out.write(text + "\n")
                out.flush()

    return Guard()
