"""Chaos Toolkit providers for the TUI's chaos tests: a marker file and a gate.

``write_marker`` / ``remove_marker`` change a temp file through
console.actions.chaos.apply_chaos (policy + one audit record each), with a Session built
from the ``opsdeck_*`` configuration keys the launcher sets, as the real extension does.
``hold`` is a probe that blocks until the test opens ``GATE``, so a test can abort a run
while an activity is in flight without sleeping.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from console.actions.chaos import ChaosPlan
from tests.chaos_providers.flag import _apply, _log

ROLLBACKS = {"write_marker": "remove_marker"}
GATE = threading.Event()


def write_marker(path: str, configuration: Any = None) -> dict[str, Any]:
    def do() -> dict[str, Any]:
        Path(path).write_text("on", encoding="utf-8")
        _log(path, "write")
        return {"written": path}

    plan = ChaosPlan("write_marker", (f"file:{path}",), {"path": path}, "remove_marker")
    return dict(_apply(configuration, plan, do, False))


def remove_marker(path: str, configuration: Any = None) -> dict[str, Any]:
    def do() -> dict[str, Any]:
        Path(path).unlink(missing_ok=True)
        _log(path, "remove")
        return {"removed": path}

    plan = ChaosPlan("remove_marker", (f"file:{path}",), {"path": path})
    return dict(_apply(configuration, plan, do, True))


def marker_text(path: str) -> str:
    p = Path(path)
    return p.read_text(encoding="utf-8") if p.exists() else "off"


def hold(unless_missing: str | None = None) -> str:
    """Blocks until the test opens the gate (at most 30 s, so a broken test ends); with
    ``unless_missing``, only while that file exists."""
    if unless_missing is not None and not Path(unless_missing).exists():
        return "released"
    return "released" if GATE.wait(30) else "timed out"
