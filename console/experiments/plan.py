"""`chaos plan`: every activity in run order with its provider, arguments and rollback."""

from __future__ import annotations

from typing import Any

from console.audit import mask
from console.experiments.activities import Located, activities, undoing
from console.experiments.safeguards import DEFAULT_FREQUENCY
from console.experiments.source import ExperimentFile


def provider_text(provider: dict[str, Any]) -> str:
    kind = provider.get("type")
    if kind == "python":
        return f"python {provider.get('module')}.{provider.get('func')}"
    if kind == "http":
        return f"http {provider.get('method', 'GET')} {provider.get('url')}"
    if kind == "process":
        return f"process {provider.get('path')}"
    return str(kind)


def _entry(
    experiment: ExperimentFile, item: Located, rollbacks: list[Located], pii: tuple[str, ...]
) -> dict[str, Any]:
    provider = item.provider
    rollback = None
    if item.activity.get("type") == "action" and item.phase == "method":
        found = undoing(item, rollbacks)
        rollback = found.name if found else None
    entry = {
        "phase": item.phase,
        "name": item.name,
        "type": item.activity.get("type"),
        "provider": provider_text(provider),
        "arguments": mask(provider.get("arguments") or {}, pii),
        "rollback": rollback,
        "background": bool(item.activity.get("background", False)),
        "pauses": item.activity.get("pauses") or {},
        "location": experiment.at(item.where),
    }
    if item.phase == "safeguards":
        entry["frequency"] = item.activity.get("frequency", DEFAULT_FREQUENCY)
    return entry


def plan_data(experiment: ExperimentFile, pii: tuple[str, ...] = ()) -> dict[str, Any]:
    located = activities(experiment)
    rollbacks = [i for i in located if i.phase == "rollbacks"]
    return {
        "experiment": experiment.path,
        "title": experiment.title,
        "activities": [_entry(experiment, i, rollbacks, pii) for i in located],
    }


def print_plan(data: dict[str, Any], out: Any) -> None:
    from console.output import cell

    out.write(f"Experiment: {data['title']} ({data['experiment']})\n")
    phase = None
    for a in data["activities"]:
        if a["phase"] != phase:
            phase = a["phase"]
            out.write(f"{phase}:\n")
        args = cell(a["arguments"], 120)
        line = f"  {a['type']:<6} {a['name']}  [{a['provider']}]  args: {args}"
        if "frequency" in a:
            line += f"  every {a['frequency']}s"
        if a["rollback"]:
            line += f"  rollback: {a['rollback']}"
        elif a["type"] == "action" and a["phase"] == "method":
            line += "  rollback: none"
        out.write(line + "\n")
