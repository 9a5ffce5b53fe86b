"""The one-line status bar of the executions view: context, mode, incident, engines, errors.

The open incident comes from the app (``app.incident_text``, kept current by a poll in
console.tui.app); ``redraw`` shows it again with the last facts the screen gave.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.widgets import Static


class StatusBar(Static):
    """Shows what the operator must always see: which context, whether changes are
    possible, how fresh the data is, and which engines are failing (and why)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "statusbar--context",
        "statusbar--read-only",
        "statusbar--production",
        "statusbar--ok",
        "statusbar--error",
        "statusbar--dim",
        "statusbar--marked",
    }

    def show(
        self,
        *,
        context: str,
        read_only: bool,
        production: bool,
        engines: list[tuple[str, str, bool]],
        marked: int,
        refreshed: str,
    ) -> None:
        """``engines`` is (name, state text, ok) per engine; every part is plain text."""
        self._last: dict[str, Any] = {
            "context": context, "read_only": read_only, "production": production,
            "engines": engines, "marked": marked, "refreshed": refreshed,
        }  # fmt: skip

        def style(name: str) -> str:
            return str(self.get_component_rich_style(f"statusbar--{name}", partial=True))

        sep = (" │ ", style("dim"))
        parts: list[tuple[str, str] | str] = [("ctx ", style("dim")), (context, style("context"))]
        if production:
            parts += [" ", (" PRODUCTION ", style("production"))]
        if read_only:
            parts += [" ", (" read-only ", style("read-only"))]
        incident = str(getattr(self.app, "incident_text", "") or "")
        if incident:
            parts += [sep, (incident, style("error"))]
        if marked:
            parts += [sep, (f"{marked} marked", style("marked"))]
        for name, state, ok in engines:
            parts += [sep, (f"{name}: {state}", style("ok" if ok else "error"))]
        parts += [sep, (refreshed, style("dim"))]
        # One line high (opsdeck.tcss): new text never changes the layout, and a layout
        # pass re-renders the whole screen (issue 13: on every page read).
        self.update(Text.assemble(*parts), layout=False)

    def redraw(self) -> None:
        """Show again with the last facts (the incident changed, nothing else)."""
        last = getattr(self, "_last", None)
        if last is not None:
            self.show(**last)
