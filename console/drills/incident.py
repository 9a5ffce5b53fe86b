"""The drill's incident: opened at start, closed when the drill finishes.

Incidents (console.incidents) are built beside drills; until they exist here a drill
runs without one and its own report (console.drills.report) is the review draft.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.drills.runner import DrillRun


def open_for(run: DrillRun) -> str | None:
    """Open the incident ``drill: NAME``; its id (None: no incident support)."""
    return None


def close_for(run: DrillRun, report: Path) -> Path | None:
    """Close the run's incident and write its report beside ``report``; that path."""
    return None
