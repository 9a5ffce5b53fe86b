"""A Chaos Toolkit control that ties a run to opsdeck's audit journal.

Declare it in the experiment (or pass it with ``chaos run --control-file``)::

    "controls": [{"name": "opsdeck",
                  "provider": {"type": "python", "module": "chaos.controls",
                               "arguments": {"progress_file": "progress.jsonl"}}}]

- before the experiment: tags it ``opsdeck-run:<run id>``, makes the title the run's
  ``opsdeck_experiment`` unless the configuration sets one, and adds an ``opsdeck``
  entry (run id, context) to the experiment's ``extensions``, so journal.json names
  the run whose audit records it produced;
- after each activity: one JSON line (activity, status, duration) appended to
  ``progress_file`` when given, for a launcher to follow;
- after the experiment: the ``opsdeck`` extension of the journal gets the ids of the
  run's audit records.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from chaos import _context as ctx

__all__ = ["after_activity_control", "after_experiment_control", "before_experiment_control"]


def _extension(experiment: dict[str, Any], configuration: ctx.Configuration) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = experiment.setdefault("extensions", [])
    for existing in extensions:
        if existing.get("name") == "opsdeck":
            return existing
    entry: dict[str, Any] = {"name": "opsdeck", "run_id": ctx.run_id(configuration)}
    extensions.append(entry)
    return entry


def _tag(experiment: dict[str, Any], configuration: ctx.Configuration) -> None:
    tag = f"opsdeck-run:{ctx.run_id(configuration)}"
    tags = experiment.setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)
    entry = _extension(experiment, configuration)
    entry["context"] = (configuration or {}).get("opsdeck_context")


def before_experiment_control(
    context: dict[str, Any], configuration: ctx.Configuration = None, **_: Any
) -> None:
    ctx.defaults["opsdeck_experiment"] = str(context.get("title") or "chaos experiment")
    _tag(context, configuration)


def after_activity_control(
    context: dict[str, Any],
    state: dict[str, Any] | None = None,
    configuration: ctx.Configuration = None,
    progress_file: str | None = None,
    **_: Any,
) -> None:
    if not progress_file or not isinstance(state, dict):
        return
    line = {
        "run_id": ctx.run_id(configuration),
        "activity": context.get("name"),
        "type": context.get("type"),
        "status": state.get("status"),
        "duration": state.get("duration"),
        "time": time.time(),
    }
    with Path(progress_file).open("a", encoding="utf-8") as fp:
        fp.write(json.dumps(line) + "\n")


def after_experiment_control(
    context: dict[str, Any],
    state: dict[str, Any] | None = None,
    configuration: ctx.Configuration = None,
    **_: Any,
) -> None:
    if not isinstance(state, dict):
        return
    rid = ctx.run_id(configuration)
    if isinstance(state.get("experiment"), dict):  # the journal's copy, made before our tag
        _tag(state["experiment"], configuration)
    entry = {"name": "opsdeck", "run_id": rid, "audit_ids": ctx.audit_ids(rid)}
    others = [e for e in state.get("extensions") or [] if e.get("name") != "opsdeck"]
    state["extensions"] = [*others, entry]
