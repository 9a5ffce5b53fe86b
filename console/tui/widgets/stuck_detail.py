"""The line under the stuck table: the cursor row's rules and evidence, in full.

The RULE and EVIDENCE columns are the widest; on a narrow terminal (100 columns) they
fall off the right edge, so the row under the cursor is spelled out here, wrapped.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widgets import Static

from console.model import StuckHit


class StuckDetail(Static):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"stuck-detail--rule", "stuck-detail--id"}

    def show_hits(self, workflow_id: str | None, hits: tuple[StuckHit, ...]) -> None:
        """Plain text only: evidence comes from the backend and is never markup."""
        if workflow_id is None:
            self.update("")
            return

        def style(name: str) -> str:
            return str(self.get_component_rich_style(f"stuck-detail--{name}", partial=True))

        parts: list[tuple[str, str] | str] = [(f"{workflow_id}: ", style("id"))]
        indent = " " * (len(workflow_id) + 2)  # further hits line up under the first
        for index, hit in enumerate(hits):
            parts += ["\n" + indent if index else "", (hit.rule.value, style("rule"))]
            parts += ["  ", hit.evidence]
        self.update(Text.assemble(*parts))
