"""What the journals share: where their SQLite files live, their timestamps, and who
holds a run (``host:pid``). Opening a journal's store: console.stores."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path


def data_dir() -> Path:
    """$XDG_DATA_HOME/opsdeck (default ~/.local/share/opsdeck)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "opsdeck"


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def owner_id() -> str:
    """This process as a run's owner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool:
    """Whether ``host:pid`` names a running process; other hosts count as alive."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True
