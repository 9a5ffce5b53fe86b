"""Where runbooks are found, and resolving a NAME or FILE argument to one.

Search order (first match of a name wins): each directory in ``$OPSDECK_RUNBOOKS``
(``os.pathsep``-separated), ``$XDG_CONFIG_HOME/opsdeck/runbooks``, then the runbooks
shipped with opsdeck (``runbooks/`` next to the ``console`` package).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from console.errors import ConfigError, NotFound
from console.runbook.loader import load_runbook
from console.runbook.schema import Runbook


def shipped_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "runbooks"


def search_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("OPSDECK_RUNBOOKS", "").split(os.pathsep) if p]
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    dirs.append(Path(config) / "opsdeck" / "runbooks")
    dirs.append(shipped_dir())
    return dirs


@dataclass(frozen=True)
class Entry:
    name: str
    path: Path
    runbook: Runbook | None
    error: str | None = None


def catalog() -> list[Entry]:
    """Every runbook file on the search path, valid or not (an invalid one carries its error)."""
    seen: dict[str, Entry] = {}
    for directory in search_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.y*ml")):
            if path.stem in seen:
                continue
            try:
                seen[path.stem] = Entry(path.stem, path, load_runbook(path))
            except ConfigError as exc:
                seen[path.stem] = Entry(path.stem, path, None, str(exc))
    return sorted(seen.values(), key=lambda e: e.name)


def find(name_or_path: str) -> Runbook:
    """A path to a file, or a runbook name on the search path; invalid files raise."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if not path.is_file():
            raise NotFound(f"no runbook file {name_or_path}")
        return load_runbook(path)
    for directory in search_dirs():
        for suffix in (".yaml", ".yml"):
            candidate = directory / f"{name_or_path}{suffix}"
            if candidate.is_file():
                return load_runbook(candidate)
    known = ", ".join(e.name for e in catalog()) or "none"
    raise NotFound(
        f"no runbook {name_or_path!r} (runbooks: {known})",
        hint="`opsdeck runbook list` shows them and where they are looked for",
    )
