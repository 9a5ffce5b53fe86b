"""Training drills in the sandbox: inject a realistic incident, follow a runbook, check.

``opsdeck sandbox drill list | start NAME | status | check | stop`` (console.cli_drill)
and the TUI's ``:drills`` use this package; see docs/drills.md. No textual here.
"""

from __future__ import annotations

from console.drills.catalog import DRILLS, get_drill
from console.drills.model import CheckResult, Drill, DrillEnv
from console.drills.runner import DrillRun, check, sandbox_dir, start, status, stop

__all__ = [
    "DRILLS",
    "CheckResult",
    "Drill",
    "DrillEnv",
    "DrillRun",
    "check",
    "get_drill",
    "sandbox_dir",
    "start",
    "status",
    "stop",
]
