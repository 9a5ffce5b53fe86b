"""Contexts (named environments, like kubectl contexts) from a YAML file.

The file is ``$XDG_CONFIG_HOME/opsdeck/config.yaml`` (``OPSDECK_CONFIG`` overrides).
It is read through PyYAML's composed nodes, so every error names ``file:line`` and the
field (``config.yaml:7: contexts.prod.engines[0].kind: required``); a YAML syntax error
names ``file:line:column``. Secrets are never stored in the file, only references
(``keyring:service/name``, see console.secrets); a plain-text value under a key that
looks secret is refused. One exception: a context marked ``sandbox: true`` (``opsdeck
sandbox up`` writes it) may use a broker's well-known local login in plain text, e.g.
RabbitMQ's guest/guest on 127.0.0.1; anywhere else that login is refused too.

Writes (``use_context``, ``upsert_context``) edit only the lines they change, so
comments and the rest of the file survive, and go through a temp file + rename so a
crash never leaves half a file.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.errors import ConfigError

SECRET_REF_PREFIX = "keyring:"
_SECRET_KEY = re.compile(
    r"(^|[-_])(api[-_]?key|password|passwd|token|client[-_]key|private[-_]key|secret)([-_]|$)",
    re.IGNORECASE,
)
_CONTEXT_KEYS = {
    "production", "read-only", "sandbox", "engines", "description", "sources", "queues",
}  # fmt: skip
# Kinds that log in with a built-in plain-text default when no password is configured:
# (user key, user, password key, password). RabbitMQ's guest works only from loopback.
_BUILT_IN_LOGINS = {"rabbitmq": ("username", "guest", "password", "guest")}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_TOP_KEYS = {
    "current-context", "identity", "pii-fields", "contexts", "telemetry", "policy", "oidc",
    "store",
}  # fmt: skip


def looks_secret(key: str) -> bool:
    """Whether a settings key names a secret (api-key, password, token, client-key...)."""
    return bool(_SECRET_KEY.search(key))


@dataclass(frozen=True)
class EngineEntry:
    """One engine of a context; ``settings`` is the mapping as written (plain dict)."""

    name: str
    kind: str
    settings: dict[str, Any]
    location: str  # file:line of the entry
    field_locations: Mapping[str, str] = field(default_factory=dict)
    path: str = ""  # field path, e.g. contexts.prod.engines[0]


@dataclass(frozen=True)
class Context:
    name: str
    engines: tuple[EngineEntry, ...]
    production: bool = False
    read_only: bool = False
    location: str = ""
    # A local sandbox (`opsdeck sandbox up`): may use local brokers' default logins.
    sandbox: bool = False
    # Keys this version does not interpret (backends for later adapters), kept as written.
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Telemetry sources (console.correlate): same entry shape as engines, kind from the
    # ``opsdeck.sources`` entry-point group.
    sources: tuple[EngineEntry, ...] = ()
    # Dead-letter queue backends (console.actions.drain): same entry shape, kind from the
    # ``opsdeck.queues`` entry-point group.
    queues: tuple[EngineEntry, ...] = ()

    def engine(self, name: str) -> EngineEntry:
        for entry in self.engines:
            if entry.name == name:
                return entry
        known = ", ".join(e.name for e in self.engines) or "none"
        raise ConfigError(f"context {self.name!r} has no engine {name!r} (engines: {known})")


@dataclass(frozen=True)
class Config:
    path: Path
    contexts: Mapping[str, Context]
    current_context: str | None = None
    identity: str | None = None
    pii_fields: tuple[str, ...] = ()
    exists: bool = True
    # Top-level ``telemetry:`` (console.telemetry): {"export": ..., "endpoint": ...}.
    telemetry: Mapping[str, str] = field(default_factory=dict)
    # Top-level ``policy:`` (console.policy.settings) and ``oidc:`` (console.identity.settings),
    # validated with defaults filled in; empty when absent.
    policy: Mapping[str, Any] = field(default_factory=dict)
    oidc: Mapping[str, Any] = field(default_factory=dict)
    # Top-level ``store:`` (console.stores.settings): the team PostgreSQL store; empty: SQLite.
    store: Mapping[str, Any] = field(default_factory=dict)

    def context(self, name: str | None = None) -> Context:
        """The named context, else the current one; unknown names list the known ones."""
        chosen = name or self.current_context
        if chosen is None:
            if len(self.contexts) == 1:
                return next(iter(self.contexts.values()))
            if not self.contexts:
                raise ConfigError(
                    f"no contexts configured in {self.path}",
                    hint="run `opsdeck sandbox up` or see docs/config.md",
                )
            raise ConfigError(
                f"no current context; known contexts: {', '.join(sorted(self.contexts))}",
                hint="pass --context NAME or run `opsdeck context use NAME`",
            )
        try:
            return self.contexts[chosen]
        except KeyError:
            known = ", ".join(sorted(self.contexts)) or "none"
            raise ConfigError(
                f"unknown context {chosen!r}; known contexts: {known}",
                hint=f"see {self.path}",
            ) from None


def default_config_path() -> Path:
    override = os.environ.get("OPSDECK_CONFIG")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "opsdeck" / "config.yaml"


def load_config(path: Path | None = None) -> Config:
    """Read and validate the config; a missing file is an empty config."""
    path = path or default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(path=path, contexts={}, exists=False)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    cached = _cache_get(path, text)
    if cached is not None:
        return cached
    config = parse_config(text, path)
    _cache_put(path, text, config)
    return config


# --- parse cache -----------------------------------------------------------------------
# Importing PyYAML and validating costs ~25 ms, a tenth of a CLI run; the validated
# config is cached as JSON beside the adapter cache, keyed by the file's exact text, so
# any edit (even within the same second) re-parses.


_CACHE_SCHEMA = 4  # bump when validation changes: a cached config skips it


def _cache_file(path: Path) -> Path:
    import zlib

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = zlib.crc32(str(path.resolve()).encode("utf-8"))
    return Path(base) / "opsdeck" / f"config-{key:08x}.json"


def _cache_get(path: Path, text: str) -> Config | None:
    import json

    try:
        with open(_cache_file(path), encoding="utf-8") as fp:
            data = json.load(fp)
        if data.get("schema") != _CACHE_SCHEMA or data["text"] != text:
            return None
        if data["path"] != str(path.resolve()):
            return None
        contexts = {
            name: Context(
                name=name,
                engines=tuple(EngineEntry(**entry) for entry in ctx.pop("engines")),
                sources=tuple(EngineEntry(**entry) for entry in ctx.pop("sources", [])),
                queues=tuple(EngineEntry(**entry) for entry in ctx.pop("queues", [])),
                **ctx,
            )
            for name, ctx in data["contexts"].items()
        }
        return Config(
            path=path,
            contexts=contexts,
            current_context=data["current_context"],
            identity=data["identity"],
            pii_fields=tuple(data["pii_fields"]),
            telemetry=dict(data.get("telemetry") or {}),
            policy=dict(data.get("policy") or {}),
            oidc=dict(data.get("oidc") or {}),
            store=dict(data.get("store") or {}),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _cache_put(path: Path, text: str, config: Config) -> None:
    import dataclasses
    import json

    contexts = {}
    for name, ctx in config.contexts.items():
        fields = {f.name: getattr(ctx, f.name) for f in dataclasses.fields(ctx)}
        fields.pop("name")
        fields["engines"] = [dataclasses.asdict(e) for e in ctx.engines]
        fields["sources"] = [dataclasses.asdict(e) for e in ctx.sources]
        fields["queues"] = [dataclasses.asdict(e) for e in ctx.queues]
        contexts[name] = fields
    data = {
        "schema": _CACHE_SCHEMA,
        "path": str(path.resolve()),
        "text": text,
        "contexts": contexts,
        "current_context": config.current_context,
        "identity": config.identity,
        "pii_fields": list(config.pii_fields),
        "telemetry": dict(config.telemetry),
        "policy": dict(config.policy),
        "oidc": dict(config.oidc),
        "store": dict(config.store),
    }
    target = _cache_file(path)
    try:
        encoded = json.dumps(data, allow_nan=False)
        if json.loads(encoded) != data:  # YAML-only types (dates...) do not round-trip
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_text(encoded, encoding="utf-8")
        os.replace(tmp, target)
    except (OSError, TypeError, ValueError):
        pass  # the cache is an optimisation only


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
        engines_node = fields["engines"][1]
        if not isinstance(engines_node, self.yaml.SequenceNode):
            raise self.fail(engines_node, f"{base}.engines", "expected a list of engines")
        engines: list[EngineEntry] = []
        for index, item in enumerate(engines_node.value):
            entry = self.engine(f"{base}.engines[{index}]", item, sandbox=sandbox)
            if any(e.name == entry.name for e in engines):
                raise self.fail(
                    item, f"{base}.engines[{index}].name", f"duplicate engine name {entry.name!r}"
                )
            engines.append(entry)
        sources: list[EngineEntry] = []
        if "sources" in fields:
            sources_node = fields["sources"][1]
            if not isinstance(sources_node, self.yaml.SequenceNode):
                raise self.fail(sources_node, f"{base}.sources", "expected a list of sources")
            for index, item in enumerate(sources_node.value):
                entry = self.engine(f"{base}.sources[{index}]", item, sandbox=sandbox)
                if any(e.name == entry.name for e in sources):
                    raise self.fail(
                        item, f"{base}.sources[{index}].name", f"duplicate source {entry.name!r}"
                    )
                sources.append(entry)
        queues: list[EngineEntry] = []
        if "queues" in fields:
            queues_node = fields["queues"][1]
            if not isinstance(queues_node, self.yaml.SequenceNode):
                raise self.fail(queues_node, f"{base}.queues", "expected a list of queue backends")
            for index, item in enumerate(queues_node.value):
                entry = self.engine(f"{base}.queues[{index}]", item, sandbox=sandbox)
                if any(e.name == entry.name for e in queues):
                    raise self.fail(
                        item, f"{base}.queues[{index}].name", f"duplicate queue {entry.name!r}"
                    )
                queues.append(entry)
        if "labels" in fields:  # policy input (console.policy.model.context_input)
            for label, (_, label_node) in self.mapping(
                fields["labels"][1], f"{base}.labels"
            ).items():
                self.scalar(label_node, f"{base}.labels.{label}", (str, int, float), "a string")
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
        )

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


# --- writing ---------------------------------------------------------------------------


def _atomic_write(path: Path, text: str) -> None:
    if path.is_symlink():  # a dotfiles-managed config: write the file, keep the link
        path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fp:
            fp.write(text)
            fp.flush()
            os.fsync(fp.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def use_context(name: str, path: Path | None = None) -> Config:
    """Make ``name`` current, rewriting only the ``current-context`` line."""
    config = load_config(path)
    config.context(name)  # unknown => ConfigError listing the known ones
    _set_current_context_text(config.path, name)
    return load_config(config.path)


def _set_current_context_text(path: Path, name: str) -> None:
    import yaml

    text = path.read_text(encoding="utf-8") if path.exists() else ""
    line = f"current-context: {_yaml_scalar(name)}"
    root = (
        yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if text else None
    )
    lines = text.splitlines(keepends=True)
    if root is not None:
        for key_node, value_node in root.value:
            if key_node.value == "current-context":
                start, end = key_node.start_mark.line, value_node.end_mark.line
                trailing = lines[end][value_node.end_mark.column :] if end < len(lines) else "\n"
                comment = trailing.rstrip("\n")
                lines[start : end + 1] = [f"{line}{comment}\n"]
                _atomic_write(path, "".join(lines))
                return
    # Not there yet: insert it after the file's leading comment block.
    head = 0
    while head < len(lines) and lines[head].strip()[:1] == "#":
        head += 1
    lines.insert(head, f"{line}\n")
    _atomic_write(path, "".join(lines))


def upsert_context(
    name: str,
    engines: list[dict[str, Any]],
    *,
    path: Path | None = None,
    make_current_if_none: bool = True,
    production: bool = False,
    sources: list[dict[str, Any]] | None = None,
    sandbox: bool = False,
    queues: list[dict[str, Any]] | None = None,
) -> Config:
    """Write (or replace) one context's block, keeping every other line of the file.

    Keys of a replaced block that this does not write (``queues``, ``correlation``,
    ``read-only``...) are kept, so re-running ``sandbox up`` keeps what the user added;
    given ``queues`` replace the entries of the same name, the others are kept.
    """
    import yaml

    config = load_config(path)
    path = config.path
    body: dict[str, Any] = {"production": production}
    if sandbox:
        body["sandbox"] = True
    body["engines"] = engines
    if sources:
        body["sources"] = sources
    if queues:
        body["queues"] = queues
    written_keys = {"production", "sandbox", "engines", "sources"}
    text = path.read_text(encoding="utf-8") if config.exists else ""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    root = yaml.compose(text, Loader=loader) if text.strip() else None
    contexts_key = contexts_node = None
    if root is not None:
        for key_node, value_node in root.value:
            if key_node.value == "contexts":
                contexts_key, contexts_node = key_node, value_node
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    fresh = yaml.safe_dump({"contexts": {name: body}}, sort_keys=False)
    if contexts_key is None or contexts_node is None:
        lines.append(fresh)
    elif isinstance(contexts_node, yaml.MappingNode) and contexts_node.value:
        if contexts_node.flow_style:
            raise ConfigError(
                f"cannot add context {name!r}: write `contexts` as a block mapping",
                location=f"{path}:{contexts_node.start_mark.line + 1}",
            )
        indent = contexts_node.value[0][0].start_mark.column
        block = _indent(yaml.safe_dump({name: body}, sort_keys=False), indent)
        existing = [(k, v) for k, v in contexts_node.value if k.value == name]
        if existing:
            key_node, value_node = existing[0]
            old = yaml.safe_load(yaml.serialize(value_node)) if value_node else None
            if isinstance(old, dict):
                kept = {k: v for k, v in old.items() if k not in written_keys}
                if queues and isinstance(old.get("queues"), list):
                    names = {q.get("name") for q in queues}
                    others = [
                        q
                        for q in old["queues"]
                        if not isinstance(q, dict) or q.get("name") not in names
                    ]
                    kept["queues"] = queues + others
                block = _indent(yaml.safe_dump({name: body | kept}, sort_keys=False), indent)
            lines[key_node.start_mark.line : _span_end(lines, value_node)] = [block]
        else:
            insert_at = _span_end(lines, contexts_node.value[-1][1])
            lines[insert_at:insert_at] = [block]
    else:  # `contexts:` empty, null or {}
        lines[contexts_key.start_mark.line : contexts_node.end_mark.line + 1] = [fresh]
    new_text = "".join(lines)
    parse_config(new_text, path)  # never write a file we cannot read back
    _atomic_write(path, new_text)
    written = load_config(path)
    if make_current_if_none and written.current_context is None:
        _set_current_context_text(path, name)
        written = load_config(path)
    return written


def _span_end(lines: list[str], node: Any) -> int:
    """Exclusive end line of a node's text, without trailing blank or comment lines."""
    end_line, end_col = int(node.end_mark.line), int(node.end_mark.column)
    end: int = (
        end_line
        if end_line >= len(lines) or not lines[end_line][:end_col].strip()
        else end_line + 1
    )
    while end > node.start_mark.line + 1 and lines[end - 1].strip()[:1] in ("", "#"):
        end -= 1
    return end


def _indent(block: str, width: int) -> str:
    pad = " " * width
    return "".join(pad + line if line.strip() else line for line in block.splitlines(keepends=True))


def _yaml_scalar(value: str) -> str:
    import json

    return value if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value) else json.dumps(value)
