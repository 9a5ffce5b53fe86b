"""Writing the config: ``use_context`` and ``upsert_context`` edit only the lines they
change, so comments and the rest of the file survive, and go through a temp file +
rename so a crash never leaves half a file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from console.config_model import Config
from console.errors import ConfigError


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
    from console.config import load_config  # the facade: it owns the parse cache

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
    slos: dict[str, Any] | None = None,
) -> Config:
    """Write (or replace) one context's block, keeping every other line of the file.

    Keys of a replaced block that this does not write (``queues``, ``correlation``,
    ``read-only``...) are kept, so re-running ``sandbox up`` keeps what the user added;
    given ``queues`` replace the entries of the same name, the others are kept; given
    ``slos`` are written only when the block has none (an edited `slos:` wins).
    """
    import yaml

    from console.config import load_config
    from console.config_parse import parse_config

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
    if slos:
        body["slos"] = slos
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
