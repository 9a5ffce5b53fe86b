"""Every drill started and resolved through the CLI against a real sandbox.

One sandbox for the module, brought up as a user does (`opsdeck sandbox up`: the dev
server, demo workers, the `sandbox` context with the demo DLQ on the machine's
RabbitMQ). Each test: `drill start`, `drill check` exits 1 naming what is wrong, the
trainee's fix through opsdeck (a runbook or a direct action), `drill check` exits 0
and names the report. Then the `:drills` screen, driven by Pilot on the same sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

pytestmark = pytest.mark.integration

OPSDECK = str(Path(sys.executable).parent / "opsdeck")
DLQ = "opsdeck-demo.orders.dlq"


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPSDECK_CONFIG", None)
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(home / name.lower())
    return env


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user's dirs of this module; the sandbox is up in them."""
    home = tmp_path_factory.mktemp("drills")
    up = subprocess.run(
        [OPSDECK, "sandbox", "up"], env=_env(home), capture_output=True, text=True, timeout=180
    )
    try:
        assert up.returncode == 0, up.stderr
        yield home
    finally:
        subprocess.run([OPSDECK, "sandbox", "down"], env=_env(home), timeout=120)


def opsdeck(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPSDECK, *args],
        capture_output=True,
        text=True,
        env=_env(home),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def data(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def start(home: Path, name: str, count: int) -> dict[str, Any]:
    done = opsdeck(home, "sandbox", "drill", "start", name, "--count", str(count), "-o", "json")
    assert done.returncode == 0, done.stderr
    started: dict[str, Any] = data(done)
    assert started["drill"] == name and started["count"] == count
    return started


def check(home: Path) -> tuple[int, dict[str, Any]]:
    done = opsdeck(home, "sandbox", "drill", "check", "-o", "json")
    assert done.returncode in (0, 1) and done.stdout, done.stderr
    return done.returncode, data(done)


def failing(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result["checks"] if not c["ok"]}


def check_until(home: Path, want: Any, what: str, timeout: float = 60) -> dict[str, Any]:
    """`drill check -o json` until ``want(exit code, data)`` holds (conditions, no sleeps
    of fixed length beyond the poll interval)."""
    deadline = time.monotonic() + timeout
    while True:
        code, result = check(home)
        if want(code, result):
            return result
        assert time.monotonic() < deadline, f"{what}: last check {result}"
        time.sleep(0.5)


def resolved(home: Path, timeout: float = 60) -> dict[str, Any]:
    result = check_until(home, lambda code, _: code == 0, "resolved", timeout)
    assert result["resolved"] and all(c["ok"] for c in result["checks"])
    report = Path(result["report"])
    assert report.is_file() and report.parent.name == "drills"
    assert (report.parent / f"{result['token']}.json").is_file()  # the finished state
    status = opsdeck(home, "sandbox", "drill", "status")
    assert status.returncode == 1  # nothing runs any more
    return result


@pytest.fixture
def no_drill_left(home: Path) -> Iterator[None]:
    yield
    if opsdeck(home, "sandbox", "drill", "status").returncode == 0:
        opsdeck(home, "sandbox", "drill", "stop")


def test_stuck_activity_storm_resolved_by_terminating(home: Path, no_drill_left: None) -> None:
    started = start(home, "stuck-activity-storm", 3)
    query = started["injected"]["query"]
    again = opsdeck(home, "sandbox", "drill", "start", "bad-deploy")
    assert again.returncode == 2 and "one drill at a time" in again.stderr

    table = opsdeck(home, "sandbox", "drill", "check")
    assert table.returncode == 1
    assert "FAIL running: 3 of 3 drill executions still running" in table.stdout
    result = check_until(
        home, lambda _, r: failing(r).get("stuck", {}).get("numbers", {}).get("stuck") == 3, "stuck"
    )
    assert "3 of 3 drill executions stuck (activity_retrying" in failing(result)["stuck"]["detail"]

    status = opsdeck(home, "sandbox", "drill", "status", "-o", "json")
    assert status.returncode == 0
    shown = data(status)["drill"]
    assert shown["runbook"] == "stuck-workflows" and any(query in h for h in shown["hints"])

    term = opsdeck(home, "executions", "terminate", "--query", query, "--reason", "drill", "--yes")
    assert term.returncode == 0, term.stderr
    done = resolved(home)
    report = Path(done["report"]).read_text()
    assert "**resolved**" in report and report.count("| terminate |") == 3
    # the drill's incident: opened at start, the terminations tagged, closed, reviewed
    assert started["incident"] and done["incident"] == started["incident"]
    review = Path(done["incident_reports"]["md"])
    assert review.parent == Path(done["report"]).parent
    text = review.read_text()
    assert "drill: stuck-activity-storm" in text and text.count("terminate") >= 3
    shown = opsdeck(home, "incident", "show", started["incident"], "-o", "json")
    assert shown.returncode == 0, shown.stderr
    incident = data(shown)
    assert incident["status"] == "closed" and incident["title"] == "drill: stuck-activity-storm"
    assert len(incident["audit_ids"]) == 3  # the terminations were tagged with it


def test_bad_deploy_resolved_by_the_rollback_runbook(home: Path, no_drill_left: None) -> None:
    started = start(home, "bad-deploy", 2)
    assert started["injected"]["before"]["current"] == "v2"
    assert started["injected"]["counts"] == {"failed": 2}  # the orders failed on v3
    code, result = check(home)
    assert code == 1
    assert "current version is v3 (the bad build)" in failing(result)["current"]["detail"]

    run = opsdeck(
        home,
        "runbook",
        "run",
        "bad-deploy-rollback",
        "--engine",
        "temporal",
        "--answer",
        "decide=rollback",
        "--answer",
        "rollback=yes",
        "-o",
        "json",
    )
    assert run.returncode == 2, run.stderr  # waits at the manual "traffic" step
    steps = {s["id"]: s for s in data(run)["steps"]}
    assert steps["by-version"]["result"]["by_version"].get("orders:v3", 0) >= 2
    assert steps["rollback"]["state"] == "done"
    done = resolved(home)
    assert {c["name"]: c["numbers"]["current"] for c in done["checks"]}["current"] == "v2"


def _rabbit_or_skip() -> None:
    from console.sandbox import rabbit

    if rabbit.try_up() is None:
        if IN_CI:
            pytest.fail("RabbitMQ on 127.0.0.1:5672 is required in CI")
        pytest.skip("no RabbitMQ on 127.0.0.1:5672")


def test_poison_dlq_resolved_by_a_parking_drain(home: Path, no_drill_left: None) -> None:
    _rabbit_or_skip()
    started = start(home, "poison-dlq", 4)
    ids = started["injected"]["message_ids"]
    code, result = check(home)
    assert code == 1
    assert failing(result)["dlq_empty"]["numbers"]["in_dlq"] == 4
    assert failing(result)["accounted"]["numbers"]["lost"] == 0  # in the DLQ, not lost

    peek = opsdeck(home, "dlq", "peek", DLQ, "-n", "50", "-o", "json")
    assert peek.returncode == 0, peek.stderr
    peeked = {m["dedup_id"]: m for m in data(peek) if m["dedup_id"] in ids}
    assert len(peeked) == 4 and {m["reason"] for m in peeked.values()} == {"rejected"}

    # the drill's runbook, guidance only: confirm its steps up to the drain, drain, finish
    book = ["runbook", "run", "dlq-poison-messages", "--engine", "temporal", "-o", "json"]
    answers = ["--answer", "look=done", "--answer", "cause=done", "--answer", "preview=done"]
    waiting = opsdeck(home, *book, "--param", f"queue={DLQ}", *answers)
    assert waiting.returncode == 2, waiting.stderr
    assert data(waiting)["waiting"]["step"] == "drain"
    drain = opsdeck(home, "dlq", "drain", DLQ, "--max-redrives", "0", "--yes")
    assert drain.returncode == 0, drain.stderr
    rest = ["--answer", "drain=done", "--answer", "verify=done", "-o", "json"]
    finished = opsdeck(home, "runbook", "resume", data(waiting)["id"], *rest)
    assert finished.returncode == 0, finished.stderr
    assert data(finished)["status"] == "done"
    done = resolved(home)
    numbers = {c["name"]: c["numbers"] for c in done["checks"]}["accounted"]
    assert numbers["parked"] == 4 and numbers["archived"] == 4 and numbers["lost"] == 0


def test_poison_dlq_with_a_lost_message_never_passes(home: Path, no_drill_left: None) -> None:
    """A drain that loses a message must not pass the check: ids are compared."""
    _rabbit_or_skip()
    from console.drills.dlq_drill import held_ids

    started = start(home, "poison-dlq", 2)
    lost = started["injected"]["message_ids"][0]
    assert held_ids(DLQ, {lost}, remove=True) == {lost}  # gone without a trace
    drain = opsdeck(home, "dlq", "drain", DLQ, "--yes")
    assert drain.returncode == 0, drain.stderr
    code, result = check(home)
    assert code == 1 and set(failing(result)) == {"accounted"}
    assert failing(result)["accounted"]["numbers"] == {
        "total": 2,
        "in_dlq": 0,
        "redriven": 1,
        "parked": 0,
        "archived": 1,
        "lost": 1,
    }
    stop = opsdeck(home, "sandbox", "drill", "stop", "-o", "json")
    assert stop.returncode == 0, stop.stderr
    stopped = data(stop)
    assert stopped["cleanup"]["removed"]["opsdeck-demo.orders"] == 1  # the redriven one
    assert "**stopped**" in Path(stopped["report"]).read_text()


def test_worker_loss_resolved_by_the_no_workers_runbook(home: Path, no_drill_left: None) -> None:
    started = start(home, "worker-loss", 2)
    query = started["injected"]["query"]
    result = check_until(
        home, lambda _, r: {"workers", "no_pollers", "backlog"} <= set(failing(r)), "no pollers"
    )
    assert "nothing polls task queue demo" in failing(result)["workers"]["detail"]
    assert failing(result)["no_pollers"]["numbers"] == {"no_pollers": 2, "total": 2}

    run = opsdeck(
        home, "runbook", "run", "task-queue-no-workers", "--engine", "temporal",
        "--param", f"query={query}", "-o", "json",
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    waiting = data(run)
    assert waiting["waiting"]["step"] == "start-workers"
    assert waiting["steps"][0]["result"]["count"] == 2

    up = opsdeck(home, "sandbox", "up")  # the documented way to start the workers again
    assert up.returncode == 0, up.stderr
    done_run = opsdeck(
        home, "runbook", "resume", waiting["id"], "--answer", "start-workers=done", "-o", "json"
    )
    assert done_run.returncode == 0, done_run.stderr
    states = {s["id"]: s["state"] for s in data(done_run)["steps"]}
    assert states["pollers-back"] == "done" and states["drained"] == "done"
    resolved(home)


def test_bad_deploy_stop_restores_the_routing(home: Path, no_drill_left: None) -> None:
    start(home, "bad-deploy", 1)
    stop = opsdeck(home, "sandbox", "drill", "stop", "-o", "json")
    assert stop.returncode == 0, stop.stderr
    assert data(stop)["cleanup"]["restored_current"] == "v2"
    listed = opsdeck(home, "versions", "list", "orders", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [v["version"] for v in data(listed) if v["is_current"]] == ["v2"]


async def test_drills_screen_starts_checks_and_stops(
    home: Path, no_drill_left: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Button

    from console.session import open_session
    from console.tui.app import OpsdeckApp
    from console.tui.screens.chaos_report import ChaosConfirmScreen
    from console.tui.screens.drills import DrillsScreen

    for name, value in _env(home).items():
        if name.startswith("XDG_"):
            monkeypatch.setenv(name, value)
    session = open_session("sandbox")
    app = OpsdeckApp(session, refresh_interval=0)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("colon", *"drills", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DrillsScreen), ":drills open")
        screen = app.screen
        assert isinstance(screen, DrillsScreen)
        panel = screen.query_one("#drills-panel")
        await wait_for(pilot, lambda: "Stuck activity storm" in str(panel.render()), "detail")
        assert "runbook stuck-workflows" in str(panel.render())
        assert "Find stuck executions" in str(panel.render())  # the runbook's steps

        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ChaosConfirmScreen), "confirm")
        app.screen.query_one("#chaos-confirm-apply", Button).press()
        await wait_for(pilot, lambda: screen.running is not None, "started")
        assert "RUNNING Stuck activity storm" in str(panel.render())
        assert "opsdeck executions terminate --query" in str(panel.render())  # hints

        await pilot.press("c")
        await wait_for(pilot, lambda: "check(s) failing" in _status(screen), "checked")
        assert "FAIL running" in str(panel.render())

        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ChaosConfirmScreen), "confirm stop")
        app.screen.query_one("#chaos-confirm-apply", Button).press()
        await wait_for(pilot, lambda: "stopped; report" in _status(screen), "stopped")
        assert screen.running is None
    assert opsdeck(home, "sandbox", "drill", "status").returncode == 1


async def wait_for(pilot: Any, ready: Any, what: str, timeout: float = 60) -> None:
    """Let the app run until ``ready()``; the drill calls run in thread workers."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what}: not reached in {timeout}s"
        await pilot.pause(0.1)


def _status(screen: Any) -> str:
    return str(screen.query_one("#drills-status").render())
