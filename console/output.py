"""Rendering for the CLI: aligned tables for people, stable JSON/YAML for scripts.

``to_data`` turns domain objects into plain JSON-able data with stable keys (documented
in docs/cli.md): times as ISO-8601 UTC (``2026-01-02T03:04:05Z``), enums as their string
values, durations as seconds, execution references as their string form. The table
renderer needs no external dependency and never wraps: long cells are clipped.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from console.model import Execution, ExecutionDetail, ExecutionRef, StuckHit

FORMATS = ("table", "json", "jsonl", "yaml")
MAX_CELL = 80
MAX_LAST_CELL = 200  # the last column has room to spare: evidence, messages
_ISO_UTC = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|\+00:00)")


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.tzinfo is not UTC:  # already UTC (as parsed from "...Z"): no conversion
        value = value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def execution_data(execution: Execution) -> dict[str, Any]:
    ref = execution.ref
    attributes = execution.search_attributes  # most rows have none: no generic walk
    return {
        "ref": str(ref),
        "engine": ref.engine,
        "namespace": ref.scope,
        "workflow_id": ref.workflow_id,
        "run_id": ref.run_id,
        "workflow_type": execution.workflow_type,
        "status": execution.status.value,
        "start_time": iso(execution.start_time),
        "close_time": iso(execution.close_time),
        "task_queue": execution.task_queue,
        "history_length": execution.history_length,
        "deployment_version": execution.deployment_version,
        "search_attributes": to_data(attributes) if attributes else {},
    }


def detail_data(detail: ExecutionDetail) -> dict[str, Any]:
    data = execution_data(detail.execution)
    data.update(
        {
            "build_id": detail.build_id,
            "last_failure": detail.last_failure,
            "last_event_time": iso(detail.last_event_time),
            "parent": str(detail.parent) if detail.parent else None,
            "pending_workflow_task": to_data(detail.pending_workflow_task),
            "pending_activities": to_data(detail.pending_activities),
            "memo": to_data(detail.memo),
        }
    )
    return data


def stuck_data(hit: StuckHit) -> dict[str, Any]:
    return {
        "ref": str(hit.execution.ref),
        "workflow_type": hit.execution.workflow_type,
        "status": hit.execution.status.value,
        "rule": hit.rule.value,
        "evidence": hit.evidence,
        "details": to_data(hit.details),
        "execution": execution_data(hit.execution),
    }


def to_data(value: Any) -> Any:
    """Plain JSON-able data with the documented key names."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if type(value) is dict:  # the common container first: no ABC checks
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, ExecutionRef):
        return str(value)
    if isinstance(value, Execution):
        return execution_data(value)
    if isinstance(value, ExecutionDetail):
        return detail_data(value)
    if isinstance(value, StuckHit):
        return stuck_data(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_data(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def cell(value: Any, limit: int = MAX_CELL) -> str:
    """One table cell: readable, single line, clipped."""
    if value is None or value == "":
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, Mapping):
        text = ", ".join(f"{k}={cell(v, limit)}" for k, v in value.items()) or "-"
    elif isinstance(value, list | tuple):
        text = ", ".join(cell(v, limit) for v in value) or "-"
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() else str(round(value, 3))
    elif isinstance(value, str) and (match := _ISO_UTC.fullmatch(value)):
        text = f"{match.group(1)}Z"  # tables show UTC to the second
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Aligned columns; ``columns`` is (header, key) pairs. The last column is not padded."""
    headers = [header for header, _ in columns]
    last = len(columns) - 1
    body = [
        [
            cell(row.get(key), MAX_LAST_CELL if i == last else MAX_CELL)
            for i, (_, key) in enumerate(columns)
        ]
        for row in rows
    ]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]
    lines = []
    for values in [headers, *body]:
        padded = [v.ljust(widths[i]) for i, v in enumerate(values[:-1])] + values[-1:]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines) + "\n"


def key_values(data: Mapping[str, Any], keys: Sequence[tuple[str, str]] | None = None) -> str:
    keys = keys or [(k.replace("_", " "), k) for k in data]
    width = max((len(label) for label, _ in keys), default=0)
    return "".join(
        f"{label + ':':<{width + 1}} {cell(data.get(key), 200)}\n" for label, key in keys
    )


def _compact_encoder() -> Callable[[Any], str]:
    """One object as compact JSON (``", "`` and ``": "``, UTF-8 kept), as
    ``json.JSONEncoder(ensure_ascii=False).encode`` writes it.

    ``encode`` sets up a new C encoder on every call, a third of the time for a
    10,000-row list of small objects; this makes the stdlib's C encoder once. Where
    the C module is missing, the plain encoder does the same.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(ensure_ascii=False).encode

    def unsupported(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    chunks = make(None, unsupported, json.encoder.encode_basestring, None, ": ", ", ",
                  False, False, True)  # fmt: skip

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return json.encoder.encode_basestring(value)
        return "".join(chunks(value, 0))

    return encode


compact = _compact_encoder()


def json_text(data: Any) -> str:
    """Objects indented; lists of objects one object per line.

    ``indent`` makes the json module fall back from its C encoder to pure Python, which
    costs ~70 ms for a 1,000-row list, a third of the CLI's budget. One compact object
    per line is as easy to read and to grep, and parses the same.
    """
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        return "[\n  " + ",\n  ".join([compact(item) for item in data]) + "\n]\n"
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def json_list_text(encoded: Sequence[str]) -> str:
    """``json_text`` of a list of objects already encoded each by ``compact``."""
    return "[\n  " + ",\n  ".join(encoded) + "\n]\n" if encoded else "[]\n"


def jsonl_text(rows: Sequence[Any]) -> str:
    """JSON Lines: one compact object per line, no enclosing list."""
    return "".join([compact(row) + "\n" for row in rows])


def dump(data: Any, fmt: str, out: IO[str] | None = None) -> None:
    """JSON, JSON Lines (a list: one line per item; anything else: one line) or YAML."""
    out = out or sys.stdout
    if fmt == "json":
        out.write(json_text(data))
    elif fmt == "jsonl":
        out.write(jsonl_text(data if isinstance(data, list) else [data]))
    elif fmt == "yaml":
        import yaml

        out.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
    else:
        raise ValueError(f"unknown format {fmt!r}")


def emit(
    data: Any,
    fmt: str,
    *,
    columns: Sequence[tuple[str, str]] | None = None,
    empty: str = "",
    out: IO[str] | None = None,
) -> None:
    """Rows (a list) as a table or data; an object as key: value lines or data."""
    out = out or sys.stdout
    if fmt != "table":
        dump(data, fmt, out)
        return
    if isinstance(data, list):
        if not data:
            if empty:
                out.write(empty + "\n")
            return
        cols = columns or [(k.upper().replace("_", " "), k) for k in data[0]]
        out.write(table(data, cols))
    elif isinstance(data, Mapping):
        out.write(key_values(data, columns))
    else:
        out.write(f"{cell(data, 10_000)}\n")
