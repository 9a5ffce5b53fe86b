"""A session: one context's config, engines, audit journal and action runner.

The CLI and the TUI both start here. Opening a session reads the config and builds the
engines (no connection: adapters connect on first use), so it is cheap and fails only
on configuration errors.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from console.actions.runner import ActionRunner
from console.audit import AuditJournal
from console.config import Config, Context, load_config
from console.ports import WorkflowEngine


def resolve_secret(ref: str) -> str:
    """Keyring lookup, imported only when an engine actually needs a secret."""
    from console.secrets import resolve_secret as resolve

    return resolve(ref)


@dataclass
class Session:
    config: Config
    context: Context
    engines: dict[str, WorkflowEngine]
    audit: AuditJournal
    runner: ActionRunner
    read_only: bool

    @property
    def changes_allowed(self) -> bool:
        return not (self.read_only or self.context.read_only)

    async def close(self) -> None:
        for engine in self.engines.values():
            with contextlib.suppress(Exception):
                await engine.close()
        self.audit.close()


def open_session(
    context: str | None = None,
    *,
    read_only: bool = False,
    config_path: Path | None = None,
    audit_path: Path | None = None,
) -> Session:
    """Raises ConfigError for a bad file, an unknown context or an unknown engine kind."""
    from console.registry import build_engines

    config = load_config(config_path)
    chosen = config.context(context)
    engines = build_engines(chosen, resolve_secret)
    audit = AuditJournal(audit_path, pii_fields=config.pii_fields)
    runner = ActionRunner(
        context=chosen,
        engines=engines,
        audit=audit,
        read_only=read_only,
        identity=config.identity,
        pii_fields=config.pii_fields,
    )
    return Session(
        config=config,
        context=chosen,
        engines=engines,
        audit=audit,
        runner=runner,
        read_only=read_only or chosen.read_only,
    )
