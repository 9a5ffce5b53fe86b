"""Command palette provider: every action the current screen offers, plus navigation,
then Textual's system commands (theme, screenshot...).

Listing comes from the screen's active bindings (console.tui.keys), so actions hidden
by read-only mode or missing engine capabilities never appear here either. It is the
app's only provider: Textual merges providers in no fixed order, and opsdeck's own
actions must come first. Searching ranks a system command below an equal opsdeck match.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.tui.keys import description, view_bindings

SYSTEM_WEIGHT = 0.5  # a system command ranks below an opsdeck action that matches as well

if TYPE_CHECKING:
    from console.tui.app import OpsdeckApp


class OpsdeckCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app: OpsdeckApp = self.app  # type: ignore[assignment]
        screen = self.screen
        commands: list[tuple[str, Callable[[], Any], str]] = []
        seen: set[str] = set()
        for active in view_bindings(screen):
            binding = active.binding
            if not active.enabled or binding.action in seen:
                continue
            if binding.action.startswith("command_palette") or binding.action == "help":
                continue  # help has its own entry below
            seen.add(binding.action)
            key = app.get_key_display(binding)
            commands.append(
                (
                    description(binding),
                    partial(app.run_action, binding.action, active.node),
                    f"key {key}",
                )
            )
        from console.tui.screens.executions import ExecutionsScreen

        if isinstance(screen, ExecutionsScreen):
            commands.append(("Show all executions", partial(screen.set_stuck, False), ":all"))
            commands.append(("Show stuck executions", partial(screen.set_stuck, True), ":stuck"))
        for name in app.context_names():
            if name != app.context_name:
                commands.append(
                    (f"Switch context: {name}", partial(app.switch_context, name), f":ctx {name}")
                )
        from console.tui.screens.runbook import RunbookRunScreen, RunbooksScreen, open_runbooks

        if not isinstance(screen, RunbooksScreen | RunbookRunScreen):
            commands.append(("Runbooks", partial(open_runbooks, app), ":runbooks"))
        from console.tui.screens.dlq import DlqScreen, open_dlq

        if not isinstance(screen, DlqScreen):
            commands.append(("Dead-letter queues", partial(open_dlq, app), ":dlq"))
        from console.tui.screens.slo import SloScreen, open_slo

        if not isinstance(screen, SloScreen):
            commands.append(("SLOs: budgets and burn rates", partial(open_slo, app), ":slo"))
        from console.tui.screens.triage import TriageScreen, open_triage

        if not isinstance(screen, TriageScreen):
            commands.append(("Failure triage", partial(open_triage, app), ":triage"))
        from console.tui.screens.chaos import ChaosScreen, open_chaos

        if not isinstance(screen, ChaosScreen):
            commands.append(("Chaos experiments", partial(open_chaos, app), ":chaos"))
        from console.tui.screens.approvals import ApprovalsScreen, open_approvals

        if not isinstance(screen, ApprovalsScreen):
            commands.append(("Approval requests", partial(open_approvals, app), ":approvals"))
        from console.tui.screens.drills import DrillsScreen, open_drills

        if not isinstance(screen, DrillsScreen):
            commands.append(("Drills in the sandbox", partial(open_drills, app), ":drills"))
        commands.append(("Help: keys and commands", app.show_help, "key ?"))
        unique: dict[str, tuple[str, Callable[[], Any], str]] = {}
        for command in commands:
            unique.setdefault(command[0], command)  # "Quit" is both q and ctrl+q
        return list(unique.values())

    def _system_commands(self, taken: set[str]) -> list[tuple[str, Callable[[], Any], str]]:
        """Textual's commands, minus those opsdeck has its own of (Quit, Keys: `?`)."""
        skip = taken | {"Keys"}
        return [
            (c.title, c.callback, c.help)
            for c in self.app.get_system_commands(self.screen)
            if c.discover and c.title not in skip
        ]

    def _all(self) -> list[tuple[str, Callable[[], Any], str, float]]:
        """(name, callback, help, weight): opsdeck's first (weight 1), then the system's."""
        own = self._commands()
        system = self._system_commands({name for name, _, _ in own})
        return [(*c, 1.0) for c in own] + [(*c, SYSTEM_WEIGHT) for c in system]

    async def discover(self) -> Hits:
        for name, callback, help_text, _ in self._all():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text, weight in self._all():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score * weight, matcher.highlight(name), callback, help=help_text)
