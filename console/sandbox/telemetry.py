"""The telemetry part of the sandbox: demo trace/log stores and a real Prometheus.

``try_up(data_dir, state)`` starts, when not running,

- the demo stores (console.sandbox.demo_stores, a DEMO PART: Jaeger v1 and Loki APIs
  over the spans and logs the traced demo workers write to ``data_dir/telemetry``);
- Prometheus, when the ``prometheus`` binary is installed, with
  ``--enable-feature=exemplar-storage``, scraping the demo workers' OpenMetrics
  endpoint and the Temporal dev server's metrics port every second;

and records pids and ports in ``data_dir/telemetry.json``. It returns the ``sources:``
of the sandbox context and what is missing; a part that fails to start is a note, never
the end of the sandbox.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.sandbox import SandboxState

STATE_FILE = "telemetry.json"
STORES_MODULE = "console.sandbox.demo_stores"
METRIC = "sandbox_activity_duration_seconds"
QUERIES = [f"{METRIC}_bucket", f"sum by (activity) (rate({METRIC}_count[1m]))"]


def _read(data_dir: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads((data_dir / STATE_FILE).read_text())
        return state
    except (OSError, ValueError):
        return {}


def _write(data_dir: Path, state: dict[str, Any]) -> None:
    tmp = data_dir / f"{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(data_dir / STATE_FILE)


def _wait_http(url: str, pid: int, log: Path, timeout: float) -> None:
    from console.sandbox import _alive

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline or not _alive(pid, ""):
                tail = log.read_text(errors="replace")[-300:].strip() if log.exists() else ""
                raise RuntimeError(f"did not answer at {url}: {tail or 'no log'}") from None
            time.sleep(0.2)


def _port(previous: dict[str, Any], key: str) -> int:
    from console.sandbox import _port_free
    from console.sandbox.devserver import free_port

    port = int(previous.get(key) or 0)
    return port if port and _port_free(port) else free_port()


def _spawn(args: list[str], log: Path) -> int:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    return proc.pid


def _start_stores(data_dir: Path, previous: dict[str, Any], timeout: float) -> dict[str, Any]:
    port = _port(previous, "stores_port")
    directory = data_dir / "telemetry"
    directory.mkdir(parents=True, exist_ok=True)
    log = data_dir / "demo-stores.log"
    pid = _spawn(
        [sys.executable, "-m", STORES_MODULE, "--dir", str(directory), "--port", str(port)], log
    )
    _wait_http(f"http://127.0.0.1:{port}/ready", pid, log, timeout)
    return {"stores_pid": pid, "stores_port": port}


def _start_prometheus(
    binary: str, data_dir: Path, state: SandboxState, previous: dict[str, Any], timeout: float
) -> dict[str, Any]:
    port = _port(previous, "prometheus_port")
    work = data_dir / "prometheus"
    work.mkdir(parents=True, exist_ok=True)
    config = work / "prometheus.yml"
    targets = {"sandbox-workers": state.worker_metrics_port, "temporal": state.metrics_port}
    jobs = "".join(
        f"  - job_name: {job}\n    static_configs: [{{targets: ['127.0.0.1:{p}']}}]\n"
        for job, p in targets.items()
        if p
    )
    config.write_text(
        f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{jobs}"
    )
    log = data_dir / "prometheus.log"
    pid = _spawn(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=exemplar-storage",
        ],
        log,
    )
    _wait_http(f"http://127.0.0.1:{port}/-/ready", pid, log, timeout)
    return {"prometheus_pid": pid, "prometheus_port": port}


def status(data_dir: Path) -> dict[str, Any]:
    """The recorded parts with ``stores_running`` / ``prometheus_running``."""
    from console.sandbox import _alive

    state = _read(data_dir)
    state["stores_running"] = _alive(int(state.get("stores_pid") or 0), STORES_MODULE)
    state["prometheus_running"] = _alive(int(state.get("prometheus_pid") or 0), "prometheus")
    return state


def up(data_dir: Path, state: SandboxState, timeout: float = 30.0) -> dict[str, Any]:
    """Start what is not running; the recorded state with ``missing`` (one note per part)."""
    current = status(data_dir)
    missing: list[str] = []
    if not state.worker_metrics_port:
        missing.append("traced demo workers")
    if not current["stores_running"]:
        try:
            current.update(_start_stores(data_dir, current, timeout))
            current["stores_running"] = True
        except (OSError, RuntimeError) as exc:
            missing.append(f"demo trace/log stores ({exc})")
    binary = shutil.which("prometheus")
    if current["prometheus_running"] and current.get("scrapes") != [
        state.worker_metrics_port,
        state.metrics_port,
    ]:
        from console.sandbox.devserver import stop_process

        stop_process(int(current["prometheus_pid"]))  # ports changed: scrape the new ones
        current["prometheus_running"] = False
    if not current["prometheus_running"]:
        if binary is None:
            missing.append("prometheus (not installed: apt-get install prometheus)")
        else:
            try:
                current.update(_start_prometheus(binary, data_dir, state, current, timeout))
                current["prometheus_running"] = True
                current["scrapes"] = [state.worker_metrics_port, state.metrics_port]
            except (OSError, RuntimeError) as exc:
                missing.append(f"prometheus ({exc})")
    current["missing"] = missing
    _write(data_dir, {k: v for k, v in current.items() if not k.endswith("_running")})
    return current


def try_up(data_dir: Path, state: SandboxState) -> dict[str, Any]:
    """``up`` that never raises; prints one line naming what is missing."""
    try:
        info = up(data_dir, state)
    except Exception as exc:  # the sandbox's Temporal part must survive any of this
        info = {"missing": [f"telemetry ({type(exc).__name__}: {exc})"]}
    if info.get("missing"):
        print(f"Sandbox telemetry incomplete: {'; '.join(info['missing'])}", file=sys.stderr)
    return info


def sources(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``sources:`` of the sandbox context for the running parts."""
    out: list[dict[str, Any]] = []
    if info.get("prometheus_running"):
        url = f"http://127.0.0.1:{info['prometheus_port']}"
        out.append({"name": "prometheus", "kind": "prometheus", "url": url, "queries": QUERIES})
    if info.get("stores_running"):
        url = f"http://127.0.0.1:{info['stores_port']}"
        out.append({"name": "jaeger", "kind": "jaeger", "url": url})
        out.append(
            {
                "name": "loki",
                "kind": "loki",
                "url": url,
                "selector": '{service="opsdeck-sandbox-workers"}',
            }
        )
    return out


def down(data_dir: Path) -> bool:
    from console.sandbox.devserver import stop_process

    info = status(data_dir)
    stopped = False
    if info["prometheus_running"]:
        stopped |= stop_process(int(info["prometheus_pid"]))
    if info["stores_running"]:
        stopped |= stop_process(int(info["stores_pid"]))
    return stopped


def summary(info: dict[str, Any]) -> str:
    lines = []
    if info.get("stores_running"):
        url = f"http://127.0.0.1:{info['stores_port']}"
        lines.append(f"  Traces/logs: {url}  (demo stores: Jaeger v1 + Loki APIs)")
    else:
        lines.append("  Traces/logs: not running")
    if info.get("prometheus_running"):
        lines.append(f"  Prometheus:  http://127.0.0.1:{info['prometheus_port']}")
    else:
        lines.append("  Prometheus:  not running")
    return "\n".join(lines)
