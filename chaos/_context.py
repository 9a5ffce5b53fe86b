"""From a Chaos Toolkit ``configuration`` to an opsdeck session and chaos run.

Configuration keys (all optional):

- ``opsdeck_context``: context name (default: the config's current context);
- ``opsdeck_config``: config file path (default: ``OPSDECK_CONFIG`` or the user's);
- ``opsdeck_run_id``: set by opsdeck's launcher; without it (e.g. ``chaos run``) one id
  is made per process, so one experiment run is one blast-radius budget;
- ``opsdeck_experiment``: the experiment title (the typed confirmation in production);
- ``opsdeck_confirm``: the typed confirmation for a production context;
- ``opsdeck_approval``: the approved request (policy) the whole run was authorized by;
- ``opsdeck_sandbox_dir``: the sandbox data dir (default: ``OPSDECK_SANDBOX_DIR``, else
  the user's, as `sandbox up` uses).

Engines are async and their clients belong to one event loop, while Chaos Toolkit
calls providers synchronously, one after another: every coroutine runs on one
background loop per process (``run``), so cached sessions stay usable across calls.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
import uuid
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from console.actions.chaos import ChaosRun
from console.session import Session, open_session

T = TypeVar("T")
Configuration = Mapping[str, Any] | None

_PROCESS_RUN_ID = f"chaos-{uuid.uuid4().hex[:12]}"
_runs: dict[tuple[str, str | None, str | None], tuple[Session, ChaosRun]] = {}
_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


# Fallbacks for configuration keys, set by chaos.controls (e.g. the experiment's title).
defaults: dict[str, str] = {}


def _get(configuration: Configuration, key: str) -> str | None:
    value = (configuration or {}).get(key)
    if value in (None, ""):
        value = defaults.get(key)
    return None if value in (None, "") else str(value)


def run_id(configuration: Configuration) -> str:
    return _get(configuration, "opsdeck_run_id") or _PROCESS_RUN_ID


def session_and_run(configuration: Configuration) -> tuple[Session, ChaosRun]:
    """The session and run for this configuration, cached per run id (and context)."""
    rid = run_id(configuration)
    name, path = _get(configuration, "opsdeck_context"), _get(configuration, "opsdeck_config")
    key = (rid, name, path)
    with _lock:
        if key not in _runs:
            session = open_session(name, config_path=Path(path) if path else None)
            run = ChaosRun(
                run_id=rid,
                experiment=_get(configuration, "opsdeck_experiment") or "chaos experiment",
                confirmed=_get(configuration, "opsdeck_confirm"),
                approval=_get(configuration, "opsdeck_approval"),
            )
            _runs[key] = (session, run)
        return _runs[key]


def sandbox_dir(configuration: Configuration) -> Path:
    given = _get(configuration, "opsdeck_sandbox_dir") or os.environ.get("OPSDECK_SANDBOX_DIR")
    if given:
        return Path(given)
    from console.sandbox import default_data_dir

    return default_data_dir()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the process's background loop and wait for its result."""
    global _loop
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="opsdeck-chaos", daemon=True).start()
            atexit.register(_shutdown)
        loop = _loop
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


def _shutdown() -> None:
    """At exit: close sessions (audit journals) and stop the loop while the interpreter
    is whole, rather than leaving clients to be torn down during finalisation."""
    with contextlib.suppress(Exception):
        forget()
    if _loop is not None:
        _loop.call_soon_threadsafe(_loop.stop)


def audit_ids(rid: str) -> list[int]:
    """Ids of the audit records this process wrote for run ``rid``, oldest first."""
    with _lock:
        sessions = [s for (key_rid, _, _), (s, _) in _runs.items() if key_rid == rid]
    ids: set[int] = set()
    for session in sessions:
        ids |= {record.id for record in session.audit.list(None, run_id=rid)}
    return sorted(ids)


def forget() -> None:
    """Drop cached sessions (tests; a long-lived process between experiments)."""
    with _lock:
        items = list(_runs.values())
        _runs.clear()
    for session, _ in items:
        run(session.close())


# Audit records a rollback has already taken its undo data from (this process).
_used: set[tuple[str, int]] = set()


def recall(
    session: Session, rid: str, action: str, match: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    """The newest successful ``action`` of run ``rid`` whose result matches, from the
    audit journal (so a rollback in another process, after a crash, finds it too);
    each record is used by one rollback only."""
    for record in session.audit.list(None, run_id=rid, action=f"chaos.{action}"):
        result = (record.parameters or {}).get("result")
        if record.outcome != "ok" or not isinstance(result, dict):
            continue
        with _lock:
            if (rid, record.id) in _used or not match(result):
                continue
            _used.add((rid, record.id))
        return dict(result)
    return None
