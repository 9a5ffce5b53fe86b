"""An action that writes a flag file, its rollback that removes it, a probe that reads it.

Both changes go through console.actions.chaos.apply_chaos with a Session built from the
``opsdeck_*`` configuration keys the launcher sets, as the real extension does. Each call
appends a line to ``<path>.log`` so tests can count what ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console.actions.chaos import ChaosPlan, ChaosRun, apply_chaos
from console.session import open_session

_RUNS: dict[str, ChaosRun] = {}
ROLLBACKS = {"write_flag": "remove_flag"}


def _apply(configuration: dict[str, Any], plan: ChaosPlan, do: Any, rollback: bool) -> Any:
    session = open_session(
        configuration["opsdeck_context"], config_path=Path(configuration["opsdeck_config"])
    )
    run_id = configuration["opsdeck_run_id"]
    run = _RUNS.setdefault(
        run_id,
        ChaosRun(run_id, configuration["opsdeck_experiment"], configuration.get("opsdeck_confirm")),
    )
    try:
        return dict(apply_chaos(session, plan, run, do, is_rollback=rollback))
    finally:
        session.audit.close()


def _log(path: str, what: str) -> None:
    with open(path + ".log", "a", encoding="utf-8") as log:
        log.write(what + "\n")


def write_flag(path: str, text: str = "on", configuration: Any = None) -> dict[str, Any]:
    def do() -> dict[str, Any]:
        Path(path).write_text(text, encoding="utf-8")
        _log(path, f"write {text}")
        return {"written": path}

    plan = ChaosPlan("write_flag", (f"file:{path}",), {"path": path}, "remove_flag")
    return dict(_apply(configuration, plan, do, False))


def remove_flag(path: str, configuration: Any = None) -> dict[str, Any]:
    def do() -> dict[str, Any]:
        Path(path).unlink(missing_ok=True)
        _log(path, "remove")
        return {"removed": path}

    plan = ChaosPlan("write_flag", (f"file:{path}",), {"path": path})
    return dict(_apply(configuration, plan, do, True))


def fail(message: str = "boom") -> None:
    raise RuntimeError(message)


def flag_text(path: str) -> str:
    """Probe: the flag file's text, or 'off' when there is none."""
    p = Path(path)
    return p.read_text(encoding="utf-8") if p.exists() else "off"


def opsdeck_restore(configuration: Any, outputs: list[tuple[str, Any]]) -> None:
    """Called by `chaos rollback` in a new process with what the run's actions returned."""
    for func, output in outputs:
        _log(output["written"], f"restore {func}")
