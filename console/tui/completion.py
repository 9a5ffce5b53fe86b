"""Tab completion for `:` command mode: command names, then each command's argument.

Pure functions, no textual imports: the prompt widget asks for candidates, the screen
says which values an argument can take (context names, runbook names, workflow ids).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from console.tui.format import COMMAND_ALIASES

# Commands that take an argument complete to "name " so the next Tab lists values.
TAKES_ARGUMENT = frozenset(
    {"ctx", "runbooks", "corr", "refresh", "filter", "all", "chaos", "approvals", "triage"}
)

ArgumentValues = Callable[[str], Iterable[str]]


def command_names(prefix: str) -> list[str]:
    """Command words starting with ``prefix``: the canonical name when it matches, else
    its aliases (``co`` gives ``corr`` and ``context``, not also ``correlate``)."""
    prefix = prefix.lower()
    by_command: dict[str, list[str]] = {}
    for word, command in COMMAND_ALIASES.items():
        if word.startswith(prefix):
            by_command.setdefault(command, []).append(word)
    names: list[str] = []
    for command, words in by_command.items():
        names += [command] if command in words else words
    return sorted(set(names))


def completions(text: str, argument_values: ArgumentValues) -> list[str]:
    """Whole prompt lines that complete ``text``, in the order Tab cycles through them.

    ``argument_values(command)`` lists the values of a canonical command's argument.
    """
    word, space, argument = text.lstrip().partition(" ")
    if not space:
        return [
            f"{name} " if COMMAND_ALIASES[name] in TAKES_ARGUMENT else name
            for name in command_names(word)
        ]
    command = COMMAND_ALIASES.get(word.lower())
    if command is None:
        return []
    typed = argument.lstrip().lower()
    values = dict.fromkeys(v for v in argument_values(command) if v.lower().startswith(typed))
    return [f"{word} {value}" for value in values]


def runbook_names() -> list[str]:
    """Runbook names on the search path, from file names only (Tab must stay instant)."""
    from console.runbook.catalog import search_dirs

    names: set[str] = set()
    for directory in search_dirs():
        if directory.is_dir():
            names.update(path.stem for path in directory.glob("*.y*ml"))
    return sorted(names)
