"""`opsdeck slo list|show` as a process, against the real dev server: the values, exit 4
when failures burn the budget, exit 0 when healthy, exit 2 for an unknown name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.sandbox.devserver import DevServer
from tests.integration.slo_scenario import SLOW_S, runs, write_config

pytestmark = pytest.mark.integration

OPSDECK = str(Path(sys.executable).parent / "opsdeck")


def opsdeck(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OPSDECK_CONFIG=str(config))
    return subprocess.run(
        [OPSDECK, *args], capture_output=True, text=True, env=env, timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


async def test_slo_list_and_show(temporal_server: DevServer, tmp_path: Path) -> None:
    async with runs(temporal_server.address) as r:
        await r.start("completed", 5)
        await r.start("slow", 1)
        await r.start("failed", 2)
        slos = (
            f'      orders:\n        query: "{r.query}"\n        success-rate: 99.5%\n'
            f"      healthy:\n        query: \"{r.query} AND WorkflowType = 'DemoCompleted'\"\n"
            "        success-rate: 99%\n        window: 1d\n"
            f'      fast:\n        query: "{r.query}"\n        completion-time: {{p95: 1s}}\n'
        )
        config = write_config(tmp_path, temporal_server.address, temporal_server.http_address, slos)

        shown = opsdeck("slo", "show", "orders", "-o", "json", config=config)
        assert shown.returncode == 4, shown.stderr
        data = json.loads(shown.stdout)
        assert set(data) == {
            "name", "kind", "scope", "source", "window", "start", "end", "value", "objective",
            "target", "met", "good", "total", "budget", "burn", "alert", "alert_reason",
            "reason", "series", "truncated",
        }  # fmt: skip
        assert (data["good"], data["total"], data["met"], data["alert"]) == (6, 8, False, "page")
        assert data["value"] == pytest.approx(0.75)
        assert data["reason"] == "success rate 75.0% < 99.5% over 8 executions in the last 30d"
        # 2 of 8 bad with 0.5% allowed: burn 50 over every window; budget 0.04 allowed, 2 spent
        assert data["burn"] == pytest.approx({"5m": 50.0, "30m": 50.0, "1h": 50.0, "6h": 50.0})
        assert data["budget"]["left_count"] == pytest.approx(0.04 - 2)
        assert data["source"] == "visibility" and len(data["series"]) == 24
        assert data["series"][-1] == pytest.approx(0.75)

        healthy = opsdeck("slo", "show", "healthy", config=config)
        assert healthy.returncode == 0, healthy.stderr
        assert "100.0%" in healthy.stdout and "none" in healthy.stdout

        fast = json.loads(opsdeck("slo", "show", "fast", "-o", "json", config=config).stdout)
        # 6 completed, one took at least SLOW_S: p95 of 6 (nearest rank: the 6th) is the
        # longest, as the server's own StartTime/CloseTime say
        durations = sorted(
            [
                (e.close_time - e.start_time).total_seconds()
                async for e in r.client.list_workflows(
                    f"{r.query} AND ExecutionStatus = 'Completed'"
                )
                if e.close_time and e.start_time
            ]
        )
        assert fast["kind"] == "completion_time" and fast["total"] == 6
        assert fast["value"] == pytest.approx(durations[-1], abs=0.001)
        assert durations[-1] >= SLOW_S
        assert fast["good"] == sum(1 for d in durations if d <= 1.0)
        assert (fast["objective"], fast["target"], fast["met"]) == (1.0, 0.95, False)

        listed = opsdeck("slo", "list", config=config)
        assert listed.returncode == 4, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0].split()[:3] == ["NAME", "VALUE", "OBJECTIVE"]
        assert [line.split()[0] for line in lines[1:]] == ["orders", "healthy", "fast"]
        as_json = json.loads(opsdeck("slo", "list", "-o", "json", config=config).stdout)
        assert [s["alert"] for s in as_json] == ["page", "none", fast["alert"]]
        # How many of the 6 took over 1s depends on the machine's load: the alert must
        # follow the burn those durations give (page above 14.4, ticket above 6).
        burn = (6 - fast["good"]) / 6 / 0.05
        assert fast["burn"]["1h"] == pytest.approx(burn, abs=1e-3)  # JSON rounds to 4 places
        assert fast["alert"] == ("page" if burn > 14.4 else "ticket" if burn > 6 else "none")

        # --since moves the window's start: nothing closed after a minute from now
        later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
        quiet = opsdeck("slo", "show", "orders", "--since", later, "-o", "json", config=config)
        assert quiet.returncode == 0, quiet.stderr
        assert json.loads(quiet.stdout)["total"] == 0
        assert json.loads(quiet.stdout)["reason"].startswith("no executions closed since ")

        unknown = opsdeck("slo", "show", "nope", config=config)
        assert unknown.returncode == 2
        assert "no SLO 'nope' (SLOs: orders, healthy, fast)" in unknown.stderr


def test_bad_slo_config_exits_2_naming_file_line_field(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, "127.0.0.1:1", "127.0.0.1:2", "      orders:\n        success-rate: 99.5%\n"
    )
    before = config.read_text()
    done = opsdeck("slo", "list", config=config)
    assert done.returncode == 2
    assert f"{config}:11" in done.stderr
    assert "contexts.t.slos.orders.workflow-type: required" in done.stderr
    assert config.read_text() == before
