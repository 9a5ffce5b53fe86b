"""The opsdeck config the CLI tests write: one context `local` with one Temporal engine
on the test's dev server (gRPC and HTTP), plus what a test adds at each level."""

from __future__ import annotations

import textwrap
from pathlib import Path

from console.sandbox.devserver import DevServer


def write_temporal_config(
    path: Path,
    server: DevServer,
    *,
    identity: str = "ci@example.com",
    namespace: str = "default",
    top: str = "",
    context: str = "",
    engine: str = "",
    after_engines: str = "",
) -> Path:
    """Write the config to ``path`` and return it. ``top`` goes beside
    current-context, ``context`` into the context before its engines, ``engine`` into
    the engine's entry, ``after_engines`` into the context after them (e.g. slos);
    each is plain YAML, indented here."""

    def block(text: str, spaces: int) -> str:
        return (
            textwrap.indent(textwrap.dedent(text).strip("\n") + "\n", " " * spaces) if text else ""
        )

    path.write_text(
        f"current-context: local\nidentity: {identity}\n{block(top, 0)}"
        f"contexts:\n  local:\n{block(context, 4)}    engines:\n"
        f"      - kind: temporal\n        address: {server.address}\n"
        f"        http-address: {server.http_address}\n        namespace: {namespace}\n"
        f"{block(engine, 8)}{block(after_engines, 4)}"
    )
    return path
