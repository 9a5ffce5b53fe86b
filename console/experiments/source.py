"""Reading an experiment file (JSON or YAML) with the line of every activity.

Data comes from json/yaml.safe_load as Chaos Toolkit reads it; lines come from
yaml.compose, which also reads JSON (a flow mapping), so both formats get file:line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.errors import UsageError

Where = tuple[str | int, ...]  # e.g. ("method", 0, "provider", "arguments")


class ExperimentInvalid(UsageError):
    """Exit 2; ``problems`` are "file:line: field: message" lines."""

    title = "Invalid experiment"

    def __init__(self, problems: list[str]) -> None:
        first = problems[0] if problems else "invalid"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more)
        self.problems = problems


@dataclass
class ExperimentFile:
    path: str
    text: str
    data: dict[str, Any]
    lines: dict[Where, int] = field(default_factory=dict)  # 1-based
    load_problems: list[str] = field(default_factory=list)  # from expanding SLO entries

    def line(self, where: Where) -> int | None:
        """The line of ``where`` or of its nearest located parent."""
        while where:
            if where in self.lines:
                return self.lines[where]
            where = where[:-1]
        return None

    def at(self, where: Where) -> str:
        line = self.line(where)
        return f"{self.path}:{line}" if line else self.path

    def problem(self, where: Where, message: str) -> str:
        return f"{self.at(where)}: {field_name(where)}: {message}"

    @property
    def title(self) -> str:
        return str(self.data.get("title") or "")


def field_name(where: Where) -> str:
    out = ""
    for part in where:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "experiment"


def _locate(node: Any, where: Where, lines: dict[Where, int]) -> None:
    import yaml

    lines[where] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                child = (*where, str(key.value))
                _locate(value, child, lines)
                lines[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _locate(item, (*where, i), lines)


def parse_experiment(text: str, path: str) -> ExperimentFile:
    import yaml

    suffix = Path(path).suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise ExperimentInvalid([f"{path}: experiment files are .json, .yaml or .yml"])
    try:
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ExperimentInvalid([f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        problem = getattr(exc, "problem", None) or str(exc)
        raise ExperimentInvalid([f"{where}: {problem}"]) from None
    if not isinstance(data, dict):
        raise ExperimentInvalid([f"{path}:1: experiment: must be a mapping (an object)"])
    lines: dict[Where, int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        root = None  # JSON that YAML 1.1 cannot read: no lines, errors name the file
    if root is not None:
        _locate(root, (), lines)
    experiment = ExperimentFile(path, text, data, lines)
    from console.experiments.slo import expand

    expand(experiment)  # SLO shorthand -> Chaos Toolkit probes (docs/chaos.md, Guardrails)
    return experiment


def load_experiment_file(path: str) -> ExperimentFile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read experiment {path}: {exc.strerror or exc}") from None
    return parse_experiment(text, path)
