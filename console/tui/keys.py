"""Which keys a view offers, for its footer, the `?` help and the command palette.

Two fixes over Textual's raw ``active_bindings``:

- A focused table binds enter without showing it, which hides the screen's own
  binding of enter ("enter Open") although enter does just that (the screen opens the
  row on the table's RowSelected). ``KeysScreen`` shows the screen's binding. Only
  tables: enter on an option list or a button does its own thing.
- Textual's own keys (tab focus, ctrl+c copy) are not opsdeck's; help and palette
  leave them out. ctrl+q and ctrl+p stay, with opsdeck's wording.
"""

from __future__ import annotations

from typing import TypeVar

from textual.app import App
from textual.binding import ActiveBinding, Binding
from textual.screen import Screen
from textual.widgets import DataTable

ResultT = TypeVar("ResultT")

# Textual's built-in screen and app keys, except quit (ctrl+q), which opsdeck documents.
TEXTUAL_ACTIONS = frozenset(
    b.action for b in (*Screen.BINDINGS, *App.BINDINGS) if isinstance(b, Binding)
) - {"quit"}
DESCRIPTIONS = {"command_palette": "Command palette", "quit": "Quit"}


class KeysScreen(Screen[ResultT]):
    """A screen whose keys show even while a widget that also binds them has focus."""

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        active = super().active_bindings
        for key, current in active.items():
            if current.binding.show or not isinstance(current.node, DataTable):
                continue
            for own in self._bindings.key_to_bindings.get(key, ()):
                # Textual's private helper is what active_bindings itself uses: it
                # resolves "app.x" style actions and calls the right check_action.
                state = self.app._check_action_state(own.action, self)
                if state is not False:
                    active[key] = ActiveBinding(self, own, bool(state), own.tooltip)
                    break
        return active


def view_bindings(screen: Screen[object]) -> list[ActiveBinding]:
    """The screen's and the app's keys, once per (action, key), in binding order."""
    shown: list[ActiveBinding] = []
    seen: set[tuple[str, str]] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if not isinstance(active.node, App | Screen):
            continue  # a widget's own keys (cursor, scrolling): not this view's actions
        if binding.action in TEXTUAL_ACTIONS or not description(binding):
            continue
        if (binding.action, binding.key) in seen:
            continue
        seen.add((binding.action, binding.key))
        shown.append(active)
    return shown


def description(binding: Binding) -> str:
    return DESCRIPTIONS.get(binding.action, binding.description)
