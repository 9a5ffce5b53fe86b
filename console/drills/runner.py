"""Start, check and stop drills; one at a time, state in the sandbox's data dir.

``drill.json`` in the sandbox data dir holds the running drill (created exclusively, so
two starts cannot both win). When a check passes or the drill is stopped, the drill is
finished: what is left of the injection is cleaned up, a report is written to
``drills/<token>-report.md`` beside the state (``drills/<token>.json``, the finished
state with every check), and ``drill.json`` goes away.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.drills.catalog import get_drill
from console.drills.model import CheckResult, Drill, DrillEnv
from console.errors import BackendUnavailable, UsageError

STATE_FILE = "drill.json"
HISTORY_DIR = "drills"


@dataclass
class DrillRun:
    """A started drill, as kept in ``drill.json``."""

    name: str
    token: str
    started_at: float
    count: int
    injected: dict[str, Any] = field(default_factory=dict)
    incident: str | None = None
    incident_error: str | None = None  # why the drill runs without an incident
    incident_reports: dict[str, str] = field(default_factory=dict)  # md/html review drafts
    checks: list[dict[str, Any]] = field(default_factory=list)  # the last check's results
    checked_at: float | None = None
    finished_at: float | None = None
    outcome: str | None = None  # resolved | stopped, once finished

    @property
    def drill(self) -> Drill:
        return get_drill(self.name)

    def elapsed_s(self, now: float | None = None) -> float:
        end = self.finished_at or (now if now is not None else time.time())
        return round(end - self.started_at, 1)

    def hints(self) -> list[str]:
        """The drill's hints with this run's values (its query, ids) filled in."""
        values = _Blank({k: v for k, v in self.injected.items() if isinstance(v, str)})
        return [hint.format_map(values) for hint in self.drill.hints]

    def to_data(self, now: float | None = None) -> dict[str, Any]:
        drill = self.drill
        return {
            "drill": self.name,
            "title": drill.title,
            "token": self.token,
            "started_at": _iso(self.started_at),
            "elapsed_s": self.elapsed_s(now),
            "count": self.count,
            "injects": drill.injects,
            "runbook": drill.runbook,
            "hints": self.hints(),
            "injected": self.injected,
            "incident": self.incident,
            "incident_error": self.incident_error,
            "incident_reports": self.incident_reports,
            "checks": self.checks,
            "checked_at": _iso(self.checked_at) if self.checked_at else None,
            "finished_at": _iso(self.finished_at) if self.finished_at else None,
            "outcome": self.outcome,
        }


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def sandbox_dir() -> Path:
    """The sandbox data dir `opsdeck sandbox up` uses."""
    from console.sandbox import default_data_dir

    return default_data_dir()


def _sandbox(data_dir: Path, *, workers: bool) -> Any:
    import console.sandbox as sandbox

    state = sandbox.status(data_dir)
    if state is None or not state.server_running or (workers and not state.workers_running):
        raise BackendUnavailable(
            "sandbox",
            str(data_dir),
            "not running" if state is None else "degraded (a part of it stopped)",
            hint="start it with `opsdeck sandbox up`",
        )
    return state


def current(data_dir: Path) -> DrillRun | None:
    try:
        raw = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return DrillRun(**raw)


def _save(data_dir: Path, run: DrillRun, path: Path | None = None) -> None:
    path = path or data_dir / STATE_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(run.__dict__, indent=2))
    tmp.replace(path)


def _require(data_dir: Path) -> DrillRun:
    run = current(data_dir)
    if run is None:
        raise UsageError(
            "no drill is running", hint="`opsdeck sandbox drill list`, then `... start NAME`"
        )
    return run


def start(name: str, data_dir: Path, count: int | None = None) -> DrillRun:
    """Inject drill ``name`` into the running sandbox. Exit-2 errors change nothing."""
    drill = get_drill(name)  # UsageError naming the known drills
    if count is not None and not 1 <= count <= 100:
        raise UsageError(f"--count must be from 1 to 100, not {count}")
    running = current(data_dir)
    if running is not None:
        raise UsageError(
            f"drill {running.name!r} is running since {_iso(running.started_at)}; "
            "one drill at a time",
            hint="finish it (`opsdeck sandbox drill check`) or `opsdeck sandbox drill stop`",
        )
    state = _sandbox(data_dir, workers=True)
    if drill.needs_rabbitmq:
        from console.sandbox import rabbit

        if rabbit.try_up() is None:
            raise BackendUnavailable(
                "RabbitMQ", f"{rabbit.HOST}:{rabbit.PORT}", "no broker answers (guest/guest)"
            )
    run = DrillRun(drill.name, f"drill-{uuid.uuid4().hex[:8]}", time.time(), count or 0)
    run.count = count or drill.default_count
    try:  # exclusive: of two concurrent starts, one gets exit 2
        fd = os.open(data_dir / STATE_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError("another drill was started just now; one drill at a time") from None
    os.close(fd)
    env = DrillEnv(data_dir, state, run.token)
    try:
        run.injected = drill.inject(env, run.count)
    except BaseException:
        (data_dir / STATE_FILE).unlink(missing_ok=True)
        raise
    from console.drills import incident

    run.incident, run.incident_error = incident.open_for(run, state)
    _save(data_dir, run)
    return run


def status(data_dir: Path) -> DrillRun | None:
    return current(data_dir)


def _checks(drill: Drill, env: DrillEnv, run: DrillRun) -> list[CheckResult]:
    return drill.check(env, run.injected)


def check(data_dir: Path) -> tuple[DrillRun, list[CheckResult], Path | None]:
    """Run the drill's checks; when all pass the drill is finished (resolved): the run,
    the results and the report's path (None while unresolved)."""
    run = _require(data_dir)
    state = _sandbox(data_dir, workers=False)
    env = DrillEnv(data_dir, state, run.token)
    results = _checks(run.drill, env, run)
    run.checks = [r.to_data() for r in results]
    run.checked_at = time.time()
    if not all(r.ok for r in results):
        _save(data_dir, run)
        return run, results, None
    run.drill.cleanup(env, run.injected, True)
    return run, results, _finish(data_dir, run, "resolved", state)


def stop(data_dir: Path) -> tuple[DrillRun, dict[str, Any], Path]:
    """Give up: undo what is left of the injection, finish as stopped; (run, what the
    cleanup did, report path)."""
    run = _require(data_dir)
    state = _sandbox(data_dir, workers=False)
    env = DrillEnv(data_dir, state, run.token)
    try:
        run.checks = [r.to_data() for r in _checks(run.drill, env, run)]
        run.checked_at = time.time()
    except Exception as exc:  # the report says so; stopping must still clean up
        run.checks = [{"name": "check", "ok": False, "detail": f"check failed: {exc}"}]
    done = run.drill.cleanup(env, run.injected, False)
    return run, done, _finish(data_dir, run, "stopped", state)


def _finish(data_dir: Path, run: DrillRun, outcome: str, state: Any) -> Path:
    from console.drills import incident
    from console.drills.report import write_report

    run.finished_at, run.outcome = time.time(), outcome
    history = data_dir / HISTORY_DIR
    history.mkdir(parents=True, exist_ok=True)
    path = history / f"{run.token}-report.md"
    run.incident_reports = incident.close_for(run, state, path)
    report = write_report(run, path)  # names the incident's review drafts
    _save(data_dir, run, history / f"{run.token}.json")
    (data_dir / STATE_FILE).unlink(missing_ok=True)
    return report
