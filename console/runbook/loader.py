"""Load and validate a runbook file before anything runs.

The YAML is composed (not constructed) so every node keeps its position; the whole
file is checked and every problem is collected as ``file:line:column: field: message``
(line and column 1-based). Template references are resolved at load time: a
``{{ params.x }}`` needs a declared parameter, a ``{{ steps.s.f }}`` an EARLIER step
``s`` whose kind produces ``f``. A file with any problem raises RunbookInvalid and
nothing runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.errors import ConfigError
from console.runbook.schema import (
    ACTION_KINDS,
    CHECK_QUERIES,
    COMMON_FIELDS,
    ON_FAILURE,
    PARAM_TYPES,
    RESULT_FIELDS,
    STEP_KINDS,
    Condition,
    Parameter,
    Runbook,
    Step,
    parse_duration,
)
from console.runbook.template import (
    Node,
    Template,
    TemplateError,
    compile_template,
    parse,
    references,
)
from console.runbook.template import (
    Path as RefPath,
)

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_TOP = {
    "name",
    "title",
    "description",
    "owner",
    "tags",
    "severity",
    "engines",
    "parameters",
    "steps",
}
_SEVERITIES = ("low", "medium", "high", "critical")
_PARAM_KEYS = {"type", "default", "required", "help", "choices", "min", "max", "pattern"}
_COMMON_STEP = {"id", "kind", "title", "text", "when", "timeout", "on-failure"}
_KIND_KEYS = {
    "check": {"query", "args", "expect"},
    "action": {"action", "targets", "params", "reason"},
    "decision": {"question", "choices"},
    "approval": {"approvers"},
    "manual": set(),
}
_SPECIAL_TARGETS = ("next", "end")


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class RunbookInvalid(ConfigError):
    """The file has problems; ``problems`` lists all of them, first one in the message."""

    title = "Invalid runbook"

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(str(first) + more)
        self.problems = problems


def load_runbook(path: Path | str) -> Runbook:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read runbook {path}: {exc.strerror or exc}") from None
    return parse_runbook(text, str(path))


def parse_runbook(text: str, path: str) -> Runbook:
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader_cls)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            cm = exc.context_mark
            problem += f" ({exc.context} at line {cm.line + 1}, column {cm.column + 1})"
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise RunbookInvalid(
            [Problem(path, line, col, "", f"YAML syntax error: {problem}")]
        ) from None
    except yaml.YAMLError as exc:
        raise RunbookInvalid([Problem(path, 1, 1, "", f"YAML error: {exc}")]) from None
    checker = _Checker(path, text, yaml)
    book = checker.runbook(root)
    if checker.problems or book is None:
        raise RunbookInvalid(checker.problems or [Problem(path, 1, 1, "", "empty file")])
    return book


class _Checker:
    def __init__(self, path: str, text: str, yaml: Any) -> None:
        self.path = path
        self.text = text
        self.yaml = yaml
        self.problems: list[Problem] = []
        self.constructor = yaml.SafeLoader("")

    # -- helpers ---------------------------------------------------------------------

    def problem(self, node: Any, fld: str, message: str, offset: int = 0) -> None:
        mark = node.start_mark if node is not None else None
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if offset and node is not None and isinstance(node, self.yaml.ScalarNode):
            line, col = self._inside(node, offset)
        self.problems.append(Problem(self.path, line, col, fld, message))

    def _inside(self, node: Any, offset: int) -> tuple[int, int]:
        """Line/column of character ``offset`` of a scalar's value, when it is plain text."""
        mark = node.start_mark
        raw = self.text[mark.index : node.end_mark.index]
        value = str(node.value)
        start = (
            raw.find(value[: max(1, min(len(value), 20))]) if node.style in (None, "'", '"') else -1
        )
        if start < 0 or node.style in ("|", ">"):
            # block scalars: find the expression text in the source after the marker
            snippet = value[offset : offset + 20]
            found = raw.find(snippet) if snippet else -1
            if found < 0:
                return mark.line + 1, mark.column + 1
            absolute = mark.index + found
        else:
            absolute = mark.index + start + offset
        before = self.text[:absolute]
        line = before.count("\n") + 1
        return line, absolute - (before.rfind("\n") + 1) + 1

    def value(self, node: Any) -> Any:
        return self.constructor.construct_object(node, deep=True)

    def mapping(self, node: Any, fld: str, allowed: set[str] | None) -> dict[str, tuple[Any, Any]]:
        if not isinstance(node, self.yaml.MappingNode):
            self.problem(node, fld, "expected a mapping")
            return {}
        out: dict[str, tuple[Any, Any]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, self.yaml.ScalarNode) else "?"
            sub = f"{fld}.{key}" if fld else key
            if key in out:
                self.problem(key_node, sub, "duplicate key")
            elif allowed is not None and key not in allowed:
                self.problem(
                    key_node, sub, f"unknown field (expected one of: {', '.join(sorted(allowed))})"
                )
            out[key] = (key_node, value_node)
        return out

    def string(self, node: Any, fld: str, *, required: bool = False) -> str:
        if not isinstance(node, self.yaml.ScalarNode):
            self.problem(node, fld, "expected text")
            return ""
        value = self.value(node)
        if value is None:
            if required:
                self.problem(node, fld, "must not be empty")
            return ""
        return str(value)

    def strings(self, node: Any, fld: str) -> tuple[str, ...]:
        if isinstance(node, self.yaml.ScalarNode):
            return (self.string(node, fld),)
        if not isinstance(node, self.yaml.SequenceNode):
            self.problem(node, fld, "expected a list of text")
            return ()
        return tuple(self.string(n, f"{fld}[{i}]") for i, n in enumerate(node.value))

    def need(self, fields: dict[str, tuple[Any, Any]], key: str, node: Any, fld: str) -> Any:
        if key not in fields:
            self.problem(node, f"{fld}.{key}" if fld else key, "missing required field")
            return None
        return fields[key][1]

    # -- the document ----------------------------------------------------------------

    def runbook(self, root: Any) -> Runbook | None:
        if root is None:
            self.problems.append(Problem(self.path, 1, 1, "", "empty file"))
            return None
        top = self.mapping(root, "", _TOP)
        if not top:
            return None
        meta: dict[str, Any] = {}
        for key in ("name", "title"):
            node = self.need(top, key, root, "")
            meta[key] = self.string(node, key, required=True) if node is not None else ""
        if meta["name"] and not _NAME.fullmatch(meta["name"]):
            self.problem(top["name"][1], "name", "lower-case letters, digits, '-' and '_' only")
        for key in ("description", "owner"):
            meta[key] = self.string(top[key][1], key) if key in top else ""
        meta["tags"] = self.strings(top["tags"][1], "tags") if "tags" in top else ()
        meta["severity"] = "medium"
        if "severity" in top:
            meta["severity"] = self.string(top["severity"][1], "severity")
            if meta["severity"] not in _SEVERITIES:
                self.problem(
                    top["severity"][1], "severity", f"expected one of: {', '.join(_SEVERITIES)}"
                )
        meta["engines"] = self.strings(top["engines"][1], "engines") if "engines" in top else ()
        params = self.parameters(top["parameters"][1]) if "parameters" in top else ()
        steps_node = self.need(top, "steps", root, "")
        steps = self.steps(steps_node, {p.name for p in params}) if steps_node is not None else ()
        return Runbook(
            name=meta["name"],
            title=meta["title"],
            description=meta["description"],
            owner=meta["owner"],
            tags=meta["tags"],
            severity=meta["severity"],
            engines=meta["engines"],
            parameters=params,
            steps=steps,
            path=self.path,
            source=self.text,
        )

    def parameters(self, node: Any) -> tuple[Parameter, ...]:
        out = []
        for name, (key_node, spec_node) in self.mapping(node, "parameters", None).items():
            fld = f"parameters.{name}"
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                self.problem(key_node, fld, "parameter names are letters, digits and '_'")
            spec = self.mapping(spec_node, fld, _PARAM_KEYS)
            ptype = self.string(spec["type"][1], f"{fld}.type") if "type" in spec else "string"
            if ptype not in PARAM_TYPES:
                self.problem(
                    spec["type"][1], f"{fld}.type", f"expected one of: {', '.join(PARAM_TYPES)}"
                )
                ptype = "string"
            choices = (
                self.strings(spec["choices"][1], f"{fld}.choices") if "choices" in spec else ()
            )
            if ptype == "choice" and not choices:
                self.problem(spec_node, f"{fld}.choices", "a choice parameter needs choices")
            bounds: dict[str, float | None] = {"min": None, "max": None}
            for bound in bounds:
                if bound in spec:
                    v = self.value(spec[bound][1])
                    if not isinstance(v, int | float) or isinstance(v, bool):
                        self.problem(spec[bound][1], f"{fld}.{bound}", "expected a number")
                    else:
                        bounds[bound] = float(v)
            required = False
            if "required" in spec:
                required = self.value(spec["required"][1]) is True
            param = Parameter(
                name=name,
                type=ptype,
                default=self.value(spec["default"][1]) if "default" in spec else None,
                required=required,
                help=self.string(spec["help"][1], f"{fld}.help") if "help" in spec else "",
                choices=choices,
                minimum=bounds["min"],
                maximum=bounds["max"],
                pattern=self.string(spec["pattern"][1], f"{fld}.pattern")
                if "pattern" in spec
                else None,
            )
            if param.pattern:
                try:
                    re.compile(param.pattern)
                except re.error as exc:
                    self.problem(
                        spec["pattern"][1], f"{fld}.pattern", f"bad regular expression: {exc}"
                    )
            if param.default is not None:
                try:
                    param.convert(param.default)
                except ConfigError as exc:
                    self.problem(spec["default"][1], f"{fld}.default", exc.message)
                except Exception as exc:  # UsageError is not a ConfigError
                    self.problem(
                        spec["default"][1], f"{fld}.default", str(getattr(exc, "message", exc))
                    )
            out.append(param)
        return tuple(out)

    # -- steps -----------------------------------------------------------------------

    def steps(self, node: Any, params: set[str]) -> tuple[Step, ...]:
        if not isinstance(node, self.yaml.SequenceNode) or not node.value:
            self.problem(node, "steps", "expected a non-empty list of steps")
            return ()
        ids: dict[str, str] = {}  # id -> kind, in file order (what later steps may read)
        all_ids: dict[str, int] = {}
        for i, step_node in enumerate(node.value):
            if isinstance(step_node, self.yaml.MappingNode):
                for k, v in step_node.value:
                    if getattr(k, "value", None) == "id" and isinstance(v, self.yaml.ScalarNode):
                        all_ids.setdefault(str(v.value), i)
        steps = []
        for i, step_node in enumerate(node.value):
            step = self.step(step_node, f"steps[{i}]", params, ids, all_ids)
            if step is None:
                # Already reported; later references to it are not reported again.
                for sid, index in all_ids.items():
                    if index == i:
                        ids.setdefault(sid, "?")
            else:
                if step.id in ids:
                    self.problem(step_node, f"steps[{i}].id", f"duplicate step id {step.id!r}")
                ids[step.id] = step.kind
                steps.append(step)
        return tuple(steps)

    def step(
        self,
        node: Any,
        fld: str,
        params: set[str],
        earlier: dict[str, str],
        all_ids: dict[str, int],
    ) -> Step | None:
        fields = self.mapping(node, fld, None)
        if not fields:
            return None
        kind_node = self.need(fields, "kind", node, fld)
        id_node = self.need(fields, "id", node, fld)
        kind = self.string(kind_node, f"{fld}.kind") if kind_node is not None else ""
        step_id = self.string(id_node, f"{fld}.id", required=True) if id_node is not None else ""
        if step_id and not _NAME.fullmatch(step_id):
            self.problem(id_node, f"{fld}.id", "lower-case letters, digits, '-' and '_' only")
        if kind_node is not None and kind not in STEP_KINDS:
            self.problem(
                kind_node,
                f"{fld}.kind",
                f"unknown step kind {kind!r} (expected one of: {', '.join(STEP_KINDS)})",
            )
            return None
        if not kind or not step_id:
            return None
        label = f"steps.{step_id}"
        allowed = _COMMON_STEP | _KIND_KEYS[kind]
        for key, (key_node, _) in fields.items():
            if key not in allowed:
                self.problem(
                    key_node,
                    f"{label}.{key}",
                    f"unknown field for a {kind} step "
                    f"(expected one of: {', '.join(sorted(allowed))})",
                )
        text_node = self.need(fields, "text", node, label)
        ctx = _RefContext(params, earlier)

        def cond(key: str) -> Condition | None:
            if key not in fields:
                return None
            n = fields[key][1]
            source = self.string(n, f"{label}.{key}")
            return self.condition(n, f"{label}.{key}", source, ctx, allow_result=key == "expect")

        timeout = None
        if "timeout" in fields:
            tn = fields["timeout"][1]
            timeout = parse_duration(self.string(tn, f"{label}.timeout"))
            if timeout is None:
                self.problem(tn, f"{label}.timeout", "expected a duration such as 30s, 5m, 1h")
        on_failure, goto = "stop", None
        if "on-failure" in fields:
            on_failure, goto = self.on_failure(
                fields["on-failure"][1], f"{label}.on-failure", all_ids
            )
        if text_node is not None and "{{" in str(getattr(text_node, "value", "")):
            self.template(text_node, f"{label}.text", ctx)  # validated; rendered for display
        step = Step(
            id=step_id,
            kind=kind,
            title=self.string(fields["title"][1], f"{label}.title")
            if "title" in fields
            else step_id,
            text=self.string(text_node, f"{label}.text") if text_node is not None else "",
            line=node.start_mark.line + 1,
            when=cond("when"),
            timeout=timeout,
            on_failure=on_failure,
            goto=goto,
        )
        extra: dict[str, Any] = {}
        if kind == "check":
            query = self.one_of(fields, "query", node, label, CHECK_QUERIES)
            extra["query"] = query
            extra["args"] = self.templated_map(fields, "args", label, ctx)
            extra["expect"] = cond("expect")
        elif kind == "action":
            action = self.one_of(fields, "action", node, label, ACTION_KINDS)
            extra["action"] = action
            if "targets" in fields:
                tn = fields["targets"][1]
                if isinstance(tn, self.yaml.SequenceNode):
                    extra["targets"] = self.templated_value(tn, f"{label}.targets", ctx)
                else:
                    extra["targets"] = self.template(tn, f"{label}.targets", ctx)
            elif action != "rollback":
                self.problem(node, f"{label}.targets", "missing required field")
            extra["params"] = self.templated_map(fields, "params", label, ctx)
            if "reason" in fields:
                extra["reason"] = self.template(fields["reason"][1], f"{label}.reason", ctx)
        elif kind == "decision":
            qn = self.need(fields, "question", node, label)
            extra["question"] = self.string(qn, f"{label}.question") if qn is not None else ""
            cn = self.need(fields, "choices", node, label)
            choices: dict[str, str] = {}
            if cn is not None:
                for choice, (_ck, cv) in self.mapping(cn, f"{label}.choices", None).items():
                    target = self.string(cv, f"{label}.choices.{choice}") or "next"
                    if target not in _SPECIAL_TARGETS and target not in all_ids:
                        self.problem(
                            cv,
                            f"{label}.choices.{choice}",
                            f"no step {target!r} (use a step id, 'next' or 'end')",
                        )
                    choices[choice] = target
                if not choices:
                    self.problem(cn, f"{label}.choices", "a decision needs at least one choice")
            extra["choices"] = choices
        elif kind == "approval":
            extra["approvers"] = (
                self.string(fields["approvers"][1], f"{label}.approvers")
                if "approvers" in fields
                else ""
            )
        return Step(**{**step.__dict__, **extra})

    def one_of(
        self,
        fields: dict[str, tuple[Any, Any]],
        key: str,
        node: Any,
        label: str,
        allowed: tuple[str, ...],
    ) -> str:
        """A required field whose value must be one of ``allowed``."""
        value_node = self.need(fields, key, node, label)
        if value_node is None:
            return ""
        value = self.string(value_node, f"{label}.{key}")
        if value not in allowed:
            self.problem(
                value_node,
                f"{label}.{key}",
                f"unknown {key} {value!r} (expected one of: {', '.join(allowed)})",
            )
        return value

    def on_failure(self, node: Any, fld: str, all_ids: dict[str, int]) -> tuple[str, str | None]:
        if isinstance(node, self.yaml.ScalarNode):
            value = self.string(node, fld)
            if value in ("stop", "continue"):
                return value, None
            self.problem(node, fld, "expected stop, continue or {goto: STEP}")
            return "stop", None
        spec = self.mapping(node, fld, {"goto"})
        if "goto" not in spec:
            if spec:
                return "stop", None
            self.problem(node, fld, "expected stop, continue or {goto: STEP}")
            return "stop", None
        target = self.string(spec["goto"][1], f"{fld}.goto")
        if target not in all_ids:
            self.problem(spec["goto"][1], f"{fld}.goto", f"no step {target!r}")
        assert "goto" in ON_FAILURE
        return "goto", target

    def templated_map(
        self, fields: dict[str, tuple[Any, Any]], key: str, label: str, ctx: _RefContext
    ) -> dict[str, Any]:
        if key not in fields:
            return {}
        out: dict[str, Any] = {}
        for name, (_, vn) in self.mapping(fields[key][1], f"{label}.{key}", None).items():
            out[name] = self.templated_value(vn, f"{label}.{key}.{name}", ctx)
        return out

    def templated_value(self, node: Any, fld: str, ctx: _RefContext) -> Any:
        if (
            isinstance(node, self.yaml.ScalarNode)
            and isinstance(node.value, str)
            and "{{" in node.value
        ):
            return self.template(node, fld, ctx)
        if isinstance(node, self.yaml.SequenceNode):
            return [self.templated_value(n, f"{fld}[{i}]", ctx) for i, n in enumerate(node.value)]
        return self.value(node)

    def template(self, node: Any, fld: str, ctx: _RefContext) -> Template | None:
        source = self.string(node, fld)
        try:
            tpl = compile_template(source)
        except TemplateError as exc:
            self.problem(node, fld, f"bad template: {exc}", exc.offset)
            return None
        for expr, n in tpl.parts:
            if n is not None:
                start = source.find(expr)
                self.check_refs(node, fld, n, ctx, start, allow_result=False)
        return tpl

    def condition(
        self, node: Any, fld: str, source: str, ctx: _RefContext, *, allow_result: bool
    ) -> Condition | None:
        expr = source.strip()
        if expr.startswith("{{") and expr.endswith("}}"):
            expr = expr[2:-2]
        try:
            n = parse(expr)
        except TemplateError as exc:
            self.problem(node, fld, f"bad condition: {exc}", source.find(expr) + exc.offset)
            return None
        self.check_refs(node, fld, n, ctx, source.find(expr), allow_result=allow_result)
        return Condition(source, n)

    def check_refs(
        self, node: Any, fld: str, expr: Node, ctx: _RefContext, offset: int, *, allow_result: bool
    ) -> None:
        for ref in references(expr):
            problem = ctx.check(ref, allow_result=allow_result)
            if problem:
                text = str(node.value)
                at = text.find(ref.text(), max(offset, 0))
                self.problem(node, fld, problem, at if at >= 0 else max(offset, 0))


class _RefContext:
    def __init__(self, params: set[str], earlier: dict[str, str]) -> None:
        self.params = params
        self.earlier = dict(earlier)  # a snapshot: only steps before this one

    def check(self, ref: RefPath, *, allow_result: bool) -> str | None:
        parts = ref.parts
        root = parts[0]
        if root == "params":
            if len(parts) < 2 or parts[1] not in self.params:
                name = parts[1] if len(parts) > 1 else ""
                known = ", ".join(sorted(self.params)) or "none"
                return f"unknown parameter {name!r} in {ref.text()!r} (parameters: {known})"
            return None
        if root == "steps":
            if len(parts) < 3:
                return f"{ref.text()!r}: write steps.STEP.FIELD"
            sid, fld = parts[1], parts[2]
            if self.earlier.get(str(sid)) == "?":
                return None
            if sid not in self.earlier:
                return f"{ref.text()!r}: no earlier step {sid!r} (steps read only earlier steps)"
            fields = RESULT_FIELDS[self.earlier[sid]] + COMMON_FIELDS
            if fld not in fields:
                return (
                    f"{ref.text()!r}: a {self.earlier[sid]} step has no {fld!r} "
                    f"(fields: {', '.join(fields)})"
                )
            return None
        if root == "result" and allow_result:
            if len(parts) >= 2 and parts[1] not in RESULT_FIELDS["check"]:
                return f"{ref.text()!r}: a check result has no {parts[1]!r}"
            return None
        if root == "run" and len(parts) == 2 and parts[1] in ("id", "identity", "context"):
            return None
        roots = "params, steps, run" + (", result" if allow_result else "")
        return f"unknown name {root!r} in {ref.text()!r} (expected one of: {roots})"
