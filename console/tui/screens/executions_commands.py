"""`:` commands of the executions view and what Tab offers after each of them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from console.tui.completion import runbook_names
from console.tui.format import CommandError, parse_command

if TYPE_CHECKING:
    from console.tui.screens.executions import ExecutionsScreen


def run_command(screen: ExecutionsScreen, text: str) -> None:
    try:
        command = parse_command(text)
    except CommandError as exc:
        screen.notify(escape(str(exc)), title="command", severity="warning")
        return
    app = screen.opsdeck
    if command.name == "quit":
        app.exit()
    elif command.name == "stuck":
        screen.set_stuck(True)
    elif command.name == "all":
        screen.set_stuck(False)
        if command.argument:
            screen.apply_filter(command.argument)
    elif command.name == "filter":
        screen.apply_filter(command.argument)
    elif command.name == "help":
        app.show_help()
    elif command.name == "refresh":
        screen.set_refresh(command.argument)
    elif command.name == "ctx":
        if command.argument:
            app.switch_context(command.argument)
        else:
            pick_context(screen)
    elif command.name == "runbooks":
        from console.tui.screens.runbook import open_runbooks

        open_runbooks(app, command.argument)
    elif command.name == "corr":
        app.open_correlation(command.argument)
    elif command.name == "dlq":
        from console.tui.screens.dlq import open_dlq

        open_dlq(app)
    elif command.name == "slo":
        from console.tui.screens.slo import open_slo

        open_slo(app)
    elif command.name == "triage":
        from console.tui.screens.triage import open_triage

        open_triage(app, command.argument)
    elif command.name == "chaos":
        from console.tui.screens.chaos import open_chaos

        open_chaos(app, command.argument)
    elif command.name == "approvals":
        from console.tui.screens.approvals import open_approvals

        open_approvals(app, command.argument)
    elif command.name == "drills":
        from console.tui.screens.drills import open_drills

        open_drills(app, command.argument)


def pick_context(screen: ExecutionsScreen) -> None:
    """`:ctx` alone: choose from the config's contexts (enter switches)."""
    app = screen.opsdeck
    names = app.context_names()
    if not names:
        app.switch_context("")  # says why: no config contexts, or no switching here
        return
    from console.tui.screens.context_picker import ContextPicker

    def chosen(name: str | None) -> None:
        if name and name != app.context_name:
            app.switch_context(name)

    app.push_screen(ContextPicker(names, app.context_name), chosen)


def argument_values(screen: ExecutionsScreen, command: str) -> list[str]:
    """What Tab offers after a command: contexts, runbooks, listed workflow ids."""
    if command == "ctx":
        return screen.opsdeck.context_names()
    if command == "runbooks":
        return runbook_names()
    if command == "corr":
        return [row.execution.ref.workflow_id for row in screen.shown_rows]
    if command == "refresh":
        return ["off"]
    if command == "triage":
        return ["30m", "1h", "6h", "1d"]
    if command == "chaos":
        from console.tui.screens.chaos import experiment_names

        return experiment_names()
    if command == "approvals":
        from console.tui.screens.approvals import open_request_ids

        return open_request_ids()
    return []
