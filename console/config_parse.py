"""Validation of the config file: YAML nodes -> console.config_model types.

The file is read through PyYAML's composed nodes, so every error names ``file:line``
and the field (``config.yaml:7: contexts.prod.engines[0].kind: required``); a YAML
syntax error names ``file:line:column``. A plain-text value under a key that looks
secret is refused, but a ``sandbox: true`` context may use a local broker's built-in
login (RabbitMQ's guest/guest on 127.0.0.1).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from console.config_model import (
    SECRET_REF_PREFIX,
    Config,
    Context,
    EngineEntry,
    looks_secret,
)
from console.config_slo import SloSpec, parse_slos
from console.errors import ConfigError

_CONTEXT_KEYS = {
    "production", "read-only", "sandbox", "engines", "description", "sources", "queues",
    "slos",
}  # fmt: skip
# Kinds that log in with a built-in plain-text default when no password is configured:
# (user key, user, password key, password). RabbitMQ's guest works only from loopback.
_BUILT_IN_LOGINS = {"rabbitmq": ("username", "guest", "password", "guest")}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_TOP_KEYS = {
    "current-context", "identity", "pii-fields", "contexts", "telemetry", "policy", "oidc",
    "store",
}  # fmt: skip


def parse_config(text: str, path: Path) -> Config:
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader_cls)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = exc.problem or "invalid YAML"
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            cm = exc.context_mark
            problem += f" ({exc.context} at line {cm.line + 1}, column {cm.column + 1})"
        raise ConfigError(f"YAML syntax error: {problem}", location=where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", location=str(path)) from None
    if root is None:
        return Config(path=path, contexts={})
    return _Validator(path, yaml).config(root)


class _Validator:
    """Walks the composed node tree; each error carries the node's line and field path."""

    def __init__(self, path: Path, yaml: Any) -> None:
        self.path = path
        self.yaml = yaml
        self.constructor = yaml.SafeLoader("")

    def at(self, node: Any) -> str:
        return f"{self.path}:{node.start_mark.line + 1}"

    def fail(self, node: Any, field_path: str, message: str) -> ConfigError:
        return ConfigError(
            f"{field_path}: {message}" if field_path else message, location=self.at(node)
        )

    def value(self, node: Any) -> Any:
        return self.constructor.construct_object(node, deep=True)

    def mapping(self, node: Any, field_path: str) -> dict[str, tuple[Any, Any]]:
        """key -> (key node, value node); refuses non-mappings and duplicate keys."""
        if not isinstance(node, self.yaml.MappingNode):
            raise self.fail(node, field_path, "expected a mapping")
        out: dict[str, tuple[Any, Any]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, self.yaml.ScalarNode):
                raise self.fail(key_node, field_path, "keys must be plain strings")
            key = str(key_node.value)
            if key in out:
                raise self.fail(key_node, _join(field_path, key), "duplicate key")
            out[key] = (key_node, value_node)
        return out

    def scalar(self, node: Any, field_path: str, kind: type | tuple[type, ...], what: str) -> Any:
        if not isinstance(node, self.yaml.ScalarNode):
            raise self.fail(node, field_path, f"expected {what}")
        value = self.value(node)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(node, field_path, f"expected {what}, got {value!r}")
        return value

    def config(self, root: Any) -> Config:
        top = self.mapping(root, "")
        for key, (key_node, _) in top.items():
            if key not in _TOP_KEYS:
                raise self.fail(
                    key_node, key, f"unknown key (expected one of: {', '.join(sorted(_TOP_KEYS))})"
                )
        current = identity = None
        pii: tuple[str, ...] = ()
        if "current-context" in top:
            node = top["current-context"][1]
            current = self.optional_str(node, "current-context")
        if "identity" in top:
            identity = self.optional_str(top["identity"][1], "identity")
        if "pii-fields" in top:
            node = top["pii-fields"][1]
            if not isinstance(node, self.yaml.SequenceNode):
                raise self.fail(node, "pii-fields", "expected a list of field names")
            pii = tuple(
                self.scalar(item, f"pii-fields[{i}]", str, "a field name")
                for i, item in enumerate(node.value)
            )
        telemetry: dict[str, str] = {}
        if "telemetry" in top:
            telemetry = self.telemetry(top["telemetry"][1])
        sections: dict[str, dict[str, Any]] = {}
        for key in ("policy", "oidc", "store"):
            if key in top:
                sections[key] = self.section(key, top[key][1])
        contexts: dict[str, Context] = {}
        if "contexts" in top:
            node = top["contexts"][1]
            if not (isinstance(node, self.yaml.ScalarNode) and self.value(node) is None):
                for name, (key_node, value_node) in self.mapping(node, "contexts").items():
                    contexts[name] = self.context(name, key_node, value_node)
        if current is not None and current not in contexts:
            known = ", ".join(sorted(contexts)) or "none"
            raise self.fail(
                top["current-context"][1],
                "current-context",
                f"unknown context {current!r}; known contexts: {known}",
            )
        return Config(
            path=self.path,
            contexts=contexts,
            current_context=current,
            identity=identity,
            pii_fields=pii,
            telemetry=telemetry,
            policy=sections.get("policy", {}),
            oidc=sections.get("oidc", {}),
            store=sections.get("store", {}),
        )

    def section(self, key: str, node: Any) -> dict[str, Any]:
        """``policy:``, ``oidc:`` or ``store:``: validated by its package; errors name file:line."""
        if key == "policy":
            from console.policy.settings import validate
        elif key == "store":
            from console.stores.settings import validate
        else:
            from console.identity.settings import validate
        fields = self.mapping(node, key)
        self.check_secrets(fields, key, skip=set())
        try:
            return validate({k: self.value(v) for k, (_, v) in fields.items()})
        except ConfigError as exc:
            name = exc.message.split(":", 1)[0].split(".", 1)[-1]
            at = fields[name][0] if name in fields else node
            raise ConfigError(exc.message, location=self.at(at)) from None

    def telemetry(self, node: Any) -> dict[str, str]:
        from console.telemetry import validate

        fields = self.mapping(node, "telemetry")
        for key, (key_node, value_node) in fields.items():
            try:
                validate({key: self.value(value_node)})
            except ConfigError as exc:
                raise ConfigError(exc.message, location=self.at(key_node)) from None
        return validate({k: self.value(v) for k, (_, v) in fields.items()})

    def optional_str(self, node: Any, field_path: str) -> str | None:
        if isinstance(node, self.yaml.ScalarNode) and self.value(node) is None:
            return None
        return str(self.scalar(node, field_path, str, "a string"))

    def context(self, name: str, key_node: Any, node: Any) -> Context:
        base = f"contexts.{name}"
        fields = self.mapping(node, base)
        production = read_only = False
        if "production" in fields:
            production = self.scalar(
                fields["production"][1], f"{base}.production", bool, "true or false"
            )
        if "read-only" in fields:
            read_only = self.scalar(
                fields["read-only"][1], f"{base}.read-only", bool, "true or false"
            )
        sandbox = False
        if "sandbox" in fields:
            sandbox = self.scalar(fields["sandbox"][1], f"{base}.sandbox", bool, "true or false")
        if "engines" not in fields:
            raise self.fail(key_node, f"{base}.engines", "required")
        engines = self.entries(fields, "engines", base, sandbox, "engines", "engine name")
        sources = self.entries(fields, "sources", base, sandbox, "sources", "source")
        queues = self.entries(fields, "queues", base, sandbox, "queue backends", "queue")
        if "labels" in fields:  # policy input (console.policy.model.context_input)
            for label, (_, label_node) in self.mapping(
                fields["labels"][1], f"{base}.labels"
            ).items():
                self.scalar(label_node, f"{base}.labels.{label}", (str, int, float), "a string")
        slos: tuple[SloSpec, ...] = ()
        if "slos" in fields:
            slos = parse_slos(
                self, fields["slos"][1], f"{base}.slos", {e.name for e in engines},
                {s.name for s in sources if s.kind == "prometheus"},
            )  # fmt: skip
        extra = {k: self.value(v) for k, (_, v) in fields.items() if k not in _CONTEXT_KEYS}
        self.check_secrets(fields, base, skip=_CONTEXT_KEYS)
        return Context(
            name=name,
            engines=tuple(engines),
            production=production,
            read_only=read_only,
            location=self.at(key_node),
            sandbox=sandbox,
            extra=extra,
            sources=tuple(sources),
            queues=tuple(queues),
            slos=slos,
        )

    def entries(
        self, fields: dict[str, Any], key: str, base: str, sandbox: bool, plural: str, one: str
    ) -> list[EngineEntry]:
        """The list under ``key`` (engines, sources, queues), each entry checked, names
        unique; an absent optional list is empty."""
        if key not in fields:
            return []
        node = fields[key][1]
        if not isinstance(node, self.yaml.SequenceNode):
            raise self.fail(node, f"{base}.{key}", f"expected a list of {plural}")
        entries: list[EngineEntry] = []
        for index, item in enumerate(node.value):
            entry = self.engine(f"{base}.{key}[{index}]", item, sandbox=sandbox)
            if any(e.name == entry.name for e in entries):
                raise self.fail(
                    item, f"{base}.{key}[{index}].name", f"duplicate {one} {entry.name!r}"
                )
            entries.append(entry)
        return entries

    def engine(self, base: str, node: Any, *, sandbox: bool = False) -> EngineEntry:
        fields = self.mapping(node, base)
        if "kind" not in fields:
            raise self.fail(node, f"{base}.kind", "required")
        kind = self.scalar(fields["kind"][1], f"{base}.kind", str, "an adapter name")
        name = kind
        if "name" in fields:
            name = self.scalar(fields["name"][1], f"{base}.name", str, "a string")
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
                raise self.fail(
                    fields["name"][1], f"{base}.name", "use letters, digits, '-', '_' or '.'"
                )
        allowed = self.built_in_login(kind, fields, base, node, sandbox=sandbox)
        self.check_secrets(fields, base, allowed=allowed)
        settings = {key: self.value(v) for key, (_, v) in fields.items()}
        return EngineEntry(
            name=name,
            kind=kind,
            settings=settings,
            location=self.at(node),
            field_locations={key: self.at(k) for key, (k, _) in fields.items()},
            path=base,
        )

    def built_in_login(
        self, kind: str, fields: dict[str, tuple[Any, Any]], base: str, node: Any, *, sandbox: bool
    ) -> dict[str, str]:
        """The plain-text secrets this entry may hold (key -> value).

        An adapter with a built-in login (RabbitMQ: guest/guest) uses it when no password
        is set; that is allowed only in a ``sandbox: true`` context for a broker on this
        machine, so elsewhere a missing password is an error at the entry's line.
        """
        if kind not in _BUILT_IN_LOGINS:
            return {}
        user_key, user, password_key, password = _BUILT_IN_LOGINS[kind]
        values = {
            k: self.value(v) for k, (_, v) in fields.items() if k in (user_key, "url", "host")
        }
        url = urllib.parse.urlsplit(values["url"]) if isinstance(values.get("url"), str) else None
        host = values.get("host") or (url.hostname if url else None) or "127.0.0.1"
        login = values.get(user_key) or (url.username if url else None) or user
        if sandbox and host in _LOOPBACK and login == user:
            return {password_key: password}
        given = self.value(fields[password_key][1]) if password_key in fields else None
        if given in (None, ""):
            raise self.fail(
                node,
                f"{base}.{password_key}",
                f"required: write a keyring reference ({SECRET_REF_PREFIX}opsdeck/NAME); the "
                f"built-in {user}/{password} login is only for a broker on 127.0.0.1 in a "
                "`sandbox: true` context",
            )
        return {}

    def check_secrets(
        self,
        fields: dict[str, tuple[Any, Any]],
        base: str,
        skip: set[str] | None = None,
        allowed: Mapping[str, str] | None = None,
    ) -> None:
        """Refuse plain-text secrets at any depth below ``fields`` (but ``allowed`` ones)."""
        for key, (_key_node, value_node) in fields.items():
            if skip and key in skip:
                continue
            path = _join(base, key)
            if isinstance(value_node, self.yaml.MappingNode):
                self.check_secrets(self.mapping(value_node, path), path)
            elif isinstance(value_node, self.yaml.SequenceNode):
                for i, item in enumerate(value_node.value):
                    if isinstance(item, self.yaml.MappingNode):
                        self.check_secrets(self.mapping(item, f"{path}[{i}]"), f"{path}[{i}]")
            elif looks_secret(key):
                value = self.value(value_node)
                if value in (None, "") or (
                    isinstance(value, str) and value.startswith(SECRET_REF_PREFIX)
                ):
                    continue
                if allowed and allowed.get(key) == value:
                    continue
                raise ConfigError(
                    f"{path}: secrets must not be stored in plain text; store it with "
                    f"`opsdeck secret set NAME` and write `{SECRET_REF_PREFIX}opsdeck/NAME` here",
                    location=self.at(value_node),
                )


def _join(base: str, key: str) -> str:
    return f"{base}.{key}" if base else key
