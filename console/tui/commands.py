"""Command palette provider: every action the current screen offers, plus navigation.

Listing comes from the screen's active bindings, so actions hidden by read-only
mode or missing engine capabilities never appear here either.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from console.tui.app import OpsdeckApp


class OpsdeckCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app: OpsdeckApp = self.app  # type: ignore[assignment]
        screen = self.screen
        commands: list[tuple[str, Callable[[], Any], str]] = []
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not active.enabled or not binding.description or binding.action in seen:
                continue
            if binding.action.startswith("command_palette"):
                continue
            seen.add(binding.action)
            key = app.get_key_display(binding)
            commands.append(
                (
                    binding.description,
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
        commands.append(("Help: keys and commands", app.show_help, "key ?"))
        return commands

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
