"""Reading a Chaos Toolkit journal back: hypothesis and each activity's outcome."""

from __future__ import annotations

from typing import Any


def failure_text(lines: Any) -> str | None:
    """The exception's last line, without chaoslib's ActivityFailed wrapper."""
    if not lines:
        return None
    text = " ".join(str(lines[-1]).split())
    return text.removeprefix("chaoslib.exceptions.ActivityFailed: ") or None


SAFEGUARDS_EXTENSION = "opsdeck-safeguards"  # the journal's record of a tripped safeguard


def tripped_safeguard(journal: dict[str, Any] | None) -> dict[str, Any] | None:
    """The safeguard that stopped the run: {name, value, tolerance, error, time}."""
    for entry in (journal or {}).get("extensions") or []:
        if isinstance(entry, dict) and entry.get("name") == SAFEGUARDS_EXTENSION:
            found = entry.get("tripped")
            return found if isinstance(found, dict) else None
    return None


def _met(state: Any) -> bool | None:
    return bool(state.get("steady_state_met")) if isinstance(state, dict) else None


def activity_row(phase: str, run: dict[str, Any]) -> dict[str, Any]:
    activity = run.get("activity") or {}
    lines = run.get("exception") or []
    return {
        "phase": phase,
        "name": activity.get("name"),
        "type": activity.get("type"),
        "status": run.get("status"),
        "start": run.get("start"),
        "end": run.get("end"),
        "duration": run.get("duration"),
        "error": failure_text(lines),
    }


def journal_summary(journal: dict[str, Any] | None) -> dict[str, Any]:
    journal = journal or {}
    states = journal.get("steady_states") or {}

    def probes(key: str) -> list[Any]:
        state = states.get(key)
        return list(state.get("probes") or []) if isinstance(state, dict) else []

    rows = [activity_row("steady-state before", r) for r in probes("before")]
    rows += [activity_row("method", r) for r in journal.get("run") or []]
    rows += [activity_row("steady-state after", r) for r in probes("after")]
    return {
        "journal_status": journal.get("status"),
        "deviated": bool(journal.get("deviated")),
        "hypothesis": {"before": _met(states.get("before")), "after": _met(states.get("after"))},
        "activities": rows,
        "rollbacks": [activity_row("rollbacks", r) for r in journal.get("rollbacks") or []],
        "safeguard": tripped_safeguard(journal),
    }
