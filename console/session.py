"""A session: one context's config, engines, audit journal and action runner.

The CLI and the TUI both start here. Opening a session reads the config and builds the
engines (no connection: adapters connect on first use), so it is cheap and fails only
on configuration errors.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from console.config import Config, Context, load_config

if TYPE_CHECKING:
    # Imported when a session opens, not with this module: read-only verbs stay fast.
    from console.actions.runner import ActionRunner
    from console.audit import AuditJournal
    from console.policy.gate import PolicyGate
    from console.ports import WorkflowEngine


def resolve_secret(ref: str) -> str:
    """Keyring lookup, imported only when an engine actually needs a secret."""
    from console.secrets import resolve_secret as resolve

    return resolve(ref)


class Session:
    """What a CLI verb or the TUI works with.

    ``audit`` and ``runner`` are made on first use: listing and describing never
    import the journal or the action code, which keeps `opsdeck executions list` fast.
    """

    def __init__(
        self,
        config: Config,
        context: Context,
        engines: dict[str, WorkflowEngine],
        audit: AuditJournal | None = None,
        runner: ActionRunner | None = None,
        read_only: bool = False,
    ) -> None:
        self.config = config
        self.context = context
        self.engines = engines
        self.read_only = read_only or context.read_only
        self._audit = audit
        self._runner = runner
        self._gate: PolicyGate | None = None

    @property
    def gate(self) -> PolicyGate:
        """The policy gate of this context: identity, policy and approvals, made on first use."""
        if self._gate is None:
            from console.policy.gate import PolicyGate

            self._gate = PolicyGate(self.config, self.context, read_only=self.read_only)
        return self._gate

    @property
    def audit(self) -> AuditJournal:
        if self._audit is None:
            from console.audit import AuditJournal

            self._audit = AuditJournal(pii_fields=self.config.pii_fields)
        return self._audit

    @property
    def runner(self) -> ActionRunner:
        if self._runner is None:
            from console.actions.runner import ActionRunner

            if self.config.telemetry.get("export", "none") != "none":
                from console import telemetry

                telemetry.configure(self.config.telemetry)
            self._runner = ActionRunner(
                context=self.context,
                engines=self.engines,
                audit=self.audit,
                read_only=self.read_only,
                pii_fields=self.config.pii_fields,
                gate=self.gate,
            )
        return self._runner

    @property
    def changes_allowed(self) -> bool:
        return not self.read_only

    async def close(self) -> None:
        for engine in self.engines.values():
            with contextlib.suppress(Exception):
                await engine.close()
        if self._audit is not None:
            self._audit.close()


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
    from console import secrets  # light: keyring itself is imported on first lookup

    secrets.config_path = config.path
    engines = build_engines(chosen, resolve_secret)
    audit = None
    if audit_path is not None:
        from console.audit import AuditJournal

        audit = AuditJournal(audit_path, pii_fields=config.pii_fields)
    return Session(config, chosen, engines, audit=audit, read_only=read_only)
