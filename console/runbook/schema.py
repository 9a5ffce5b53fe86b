"""Runbook types: metadata, typed parameters and steps (frozen dataclasses, no I/O).

The file format is described in docs/runbooks.md; console.runbook.loader builds these
from YAML after validating the whole file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from console.errors import UsageError
from console.runbook.template import Node, Template

STEP_KINDS = ("check", "action", "decision", "approval", "manual")
CHECK_QUERIES = ("find_stuck", "count", "list", "versions", "promql")
ACTION_KINDS = ("retry", "cancel", "terminate", "signal", "rollback")
PARAM_TYPES = ("string", "int", "float", "bool", "duration", "choice", "list")
ON_FAILURE = ("stop", "continue", "goto")

# What `steps.<id>.<field>` may read, by step kind; every step also has `state`.
RESULT_FIELDS: dict[str, tuple[str, ...]] = {
    "check": (
        "count",
        "refs",
        "items",
        "by_version",
        "builds",
        "current",
        "versions",
        "value",
        "series",
        "ok",
    ),
    "action": (
        "done",
        "failed",
        "skipped",
        "targets",
        "request_id",
        "outcomes",
        "exit_code",
        "applied_at",
    ),
    "decision": ("answer",),
    "approval": ("approved_by",),
    "manual": ("confirmed",),
}
COMMON_FIELDS = ("state", "message")

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta | None:
    m = _DURATION.fullmatch(text)
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)]) if m else None


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str = "string"
    default: Any = None
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None

    def convert(self, raw: Any) -> Any:
        """A value from the command line (text) or YAML, checked; UsageError names the param."""
        where = f"parameter {self.name!r}"
        try:
            value: Any
            if self.type == "int":
                value = int(raw)
            elif self.type == "float":
                value = float(raw)
            elif self.type == "bool":
                if isinstance(raw, bool):
                    value = raw
                elif str(raw).lower() in ("true", "yes", "1", "on"):
                    value = True
                elif str(raw).lower() in ("false", "no", "0", "off"):
                    value = False
                else:
                    raise ValueError("expected true or false")
            elif self.type == "duration":
                if parse_duration(str(raw)) is None:
                    raise ValueError("expected a duration such as 30s, 10m, 2h")
                value = str(raw).strip()
            elif self.type == "list":
                value = (
                    list(raw)
                    if isinstance(raw, list | tuple)
                    else [s.strip() for s in str(raw).split(",") if s.strip()]
                )
            else:
                value = str(raw)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{where}: {raw!r} is not a valid {self.type} ({exc})") from None
        if self.choices and value not in self.choices:
            raise UsageError(f"{where}: {value!r} is not one of {', '.join(self.choices)}")
        if self.minimum is not None and isinstance(value, int | float) and value < self.minimum:
            raise UsageError(f"{where}: {value} is below the minimum {self.minimum:g}")
        if self.maximum is not None and isinstance(value, int | float) and value > self.maximum:
            raise UsageError(f"{where}: {value} is above the maximum {self.maximum:g}")
        if self.pattern and isinstance(value, str) and not re.fullmatch(self.pattern, value):
            raise UsageError(f"{where}: {value!r} does not match {self.pattern!r}")
        return value


@dataclass(frozen=True)
class Condition:
    source: str
    node: Node


@dataclass(frozen=True)
class Step:
    id: str
    kind: str
    title: str
    text: str  # Markdown for the reader
    line: int
    when: Condition | None = None
    timeout: timedelta | None = None
    on_failure: str = "stop"
    goto: str | None = None
    # check
    query: str | None = None
    args: Mapping[str, Template | Any] = field(default_factory=dict)
    expect: Condition | None = None
    # action
    action: str | None = None
    targets: Template | list[Any] | None = None  # one template, or a list of refs/templates
    params: Mapping[str, Template | Any] = field(default_factory=dict)
    reason: Template | None = None
    # decision: choice -> next step id ("next": the following step, "end": finish)
    question: str = ""
    choices: Mapping[str, str] = field(default_factory=dict)
    # approval
    approvers: str = ""


@dataclass(frozen=True)
class Runbook:
    name: str
    title: str
    description: str
    owner: str
    tags: tuple[str, ...]
    severity: str
    engines: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    steps: tuple[Step, ...]
    path: str
    source: str

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise UsageError(f"runbook {self.name!r} has no step {step_id!r}")

    def index(self, step_id: str) -> int:
        return [s.id for s in self.steps].index(step_id)

    def resolve_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults filled in, each value converted and validated; unknown names refused."""
        known = {p.name: p for p in self.parameters}
        for name in given:
            if name not in known:
                raise UsageError(
                    f"runbook {self.name!r} has no parameter {name!r} "
                    f"(parameters: {', '.join(known) or 'none'})"
                )
        out: dict[str, Any] = {}
        for p in self.parameters:
            if p.name in given:
                out[p.name] = p.convert(given[p.name])
            elif p.default is not None:
                out[p.name] = p.convert(p.default)
            elif p.required:
                raise UsageError(
                    f"runbook {self.name!r} needs --param {p.name}=VALUE"
                    + (f" ({p.help})" if p.help else "")
                )
            else:
                out[p.name] = None
        return out
