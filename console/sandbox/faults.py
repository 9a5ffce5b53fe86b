"""The sandbox fault switch: make demo activities fail or slow down on purpose.

A JSON file in the sandbox data dir (``faults.json``) maps an activity name to its
fault, e.g. ``{"charge_card": {"failure_rate": 0.5, "latency_ms": 200}}``. The demo
workers read it on every activity attempt (console.sandbox.workers), so a change takes
effect on the next attempt without restarting anything. ``payment`` is an alias of
``charge_card``, the demo's payment activity. No temporalio here: chaos actions import it.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.errors import UsageError

FAULTS_FILE = "faults.json"
ALIASES = {"payment": "charge_card"}


@dataclass(frozen=True)
class Fault:
    failure_rate: float = 0.0  # 0..1: share of attempts that fail
    latency_ms: int = 0  # added before the attempt runs (or fails)

    def to_data(self) -> dict[str, Any]:
        return {"failure_rate": self.failure_rate, "latency_ms": self.latency_ms}


class InjectedFault(Exception):
    """Raised inside a demo activity when the switch says this attempt fails."""


def activity_name(name: str) -> str:
    return ALIASES.get(name, name)


def faults_path(data_dir: Path) -> Path:
    return data_dir / FAULTS_FILE


def read_faults(path: Path) -> dict[str, Fault]:
    """The switch's faults; a missing or unreadable file means none (never breaks workers)."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, Mapping):
        return {}
    faults = {}
    for name, spec in raw.items():
        if isinstance(spec, Mapping):
            try:
                faults[str(name)] = _fault(spec)
            except UsageError:
                continue
    return faults


def _fault(spec: Mapping[str, Any]) -> Fault:
    rate, latency = spec.get("failure_rate", 0.0), spec.get("latency_ms", 0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise UsageError(f"failure_rate must be a number from 0 to 1, not {rate!r}")
    if isinstance(latency, bool) or not isinstance(latency, int) or latency < 0:
        raise UsageError(f"latency_ms must be a whole number of at least 0, not {latency!r}")
    return Fault(float(rate), latency)


def _write(path: Path, faults: Mapping[str, Fault]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({k: v.to_data() for k, v in faults.items()}, indent=2))
    tmp.replace(path)  # atomic: a worker never reads half a file


def set_fault(
    data_dir: Path, activity: str, failure_rate: float = 0.0, latency_ms: int = 0
) -> Fault | None:
    """Set one activity's fault; the fault it replaces (None if there was none)."""
    fault = _fault({"failure_rate": failure_rate, "latency_ms": latency_ms})
    path = faults_path(data_dir)
    faults = read_faults(path)
    name = activity_name(activity)
    previous = faults.get(name)
    faults[name] = fault
    _write(path, faults)
    return previous


def clear_fault(data_dir: Path, activity: str | None = None) -> dict[str, Fault]:
    """Remove one activity's fault (or all with None); what was removed."""
    path = faults_path(data_dir)
    faults = read_faults(path)
    if activity is None:
        removed, faults = faults, {}
    else:
        name = activity_name(activity)
        removed = {name: faults.pop(name)} if name in faults else {}
    _write(path, faults)
    return removed


def draw(fault: Fault, rng: random.Random | None = None) -> bool:
    """True when this attempt fails (rate 1 always, 0 never)."""
    if fault.failure_rate >= 1:
        return True
    return (rng or random).random() < fault.failure_rate
