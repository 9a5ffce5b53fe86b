"""The one-line status bar of the executions view: context, mode, engines, errors."""

from __future__ import annotations

from typing import ClassVar

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

        def style(name: str) -> str:
            return str(self.get_component_rich_style(f"statusbar--{name}", partial=True))

        sep = (" │ ", style("dim"))
        parts: list[tuple[str, str] | str] = [("ctx ", style("dim")), (context, style("context"))]
        if production:
            parts += [" ", (" PRODUCTION ", style("production"))]
        if read_only:
            parts += [" ", (" read-only ", style("read-only"))]
        if marked:
            parts += [sep, (f"{marked} marked", style("marked"))]
        for name, state, ok in engines:
            parts += [sep, (f"{name}: {state}", style("ok" if ok else "error"))]
        parts += [sep, (refreshed, style("dim"))]
        self.update(Text.assemble(*parts))
