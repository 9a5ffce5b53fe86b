"""The local sandbox: a Temporal dev server plus demo workers, for demos, training, tests.

``up(data_dir)`` starts both as detached processes (they outlive the CLI), seeds one
workflow of each demo kind (see console.sandbox.workers) and records pids and ports in
``data_dir/sandbox.json``; it is idempotent. The server keeps its SQLite state in
``data_dir/temporal/``, so history survives ``down``/``up`` (the same ports are reused
when free, so the written `sandbox` context stays valid).

This module imports no temporalio: the workers process does the seeding.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from console.errors import BackendUnavailable
from console.sandbox.devserver import DevServer, start_dev_server, stop_process

STATE_FILE = "sandbox.json"
NAMESPACE = "default"
WORKERS_MODULE = "console.sandbox.workers"


@dataclass(frozen=True)
class SandboxState:
    data_dir: str
    server_pid: int
    workers_pid: int
    grpc_port: int
    http_port: int
    ui_port: int
    metrics_port: int
    namespace: str = NAMESPACE
    started_at: float = 0.0
    demo_ids: dict[str, str] = field(default_factory=dict)
    server_running: bool = True
    workers_running: bool = True
    # Prometheus (OpenMetrics) endpoint of the traced demo workers; 0: untraced.
    worker_metrics_port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_address(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def healthy(self) -> bool:
        return self.server_running and self.workers_running


def default_data_dir() -> Path:
    """The user's data dir (honours XDG_DATA_HOME) / sandbox."""
    import platformdirs

    return Path(platformdirs.user_data_dir("opsdeck")) / "sandbox"


def context_settings(state: SandboxState) -> dict[str, object]:
    """The engine mapping of the `sandbox` context."""
    return {
        "name": "temporal",
        "kind": "temporal",
        "address": state.address,
        "http-address": state.http_address,
        "namespace": state.namespace,
    }


def _alive(pid: int, marker: str) -> bool:
    """Running and really ours (pids get reused): its command line names ``marker``."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except (ProcessLookupError, PermissionError, FileNotFoundError):
        return False
    except OSError:
        return True
    return marker.encode() in cmdline and not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # As the dev server (Go) does: a port in TIME_WAIT after `down` is still reusable.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _read_state(data_dir: Path) -> SandboxState | None:
    try:
        raw: dict[str, Any] = json.loads((data_dir / STATE_FILE).read_text())
        return SandboxState(**raw)
    except (OSError, ValueError, TypeError):
        return None


def _write_state(data_dir: Path, state: SandboxState) -> None:
    path = data_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.replace(path)


def _probe(data_dir: Path) -> SandboxState | None:
    """The recorded sandbox (running or not) with the liveness of both processes."""
    state = _read_state(data_dir)
    if state is None:
        return None
    return replace(
        state,
        server_running=_alive(state.server_pid, "temporal"),
        workers_running=_alive(state.workers_pid, WORKERS_MODULE),
    )


def status(data_dir: Path) -> SandboxState | None:
    """The sandbox if any part of it runs (see ``healthy`` for both), else None."""
    state = _probe(data_dir)
    if state is None or not (state.server_running or state.workers_running):
        return None
    return state


def start_workers(
    address: str,
    namespace: str,
    log_file: Path,
    ready_file: Path,
    *,
    seed: bool = True,
    metrics_port: int = 0,
) -> int:
    """Start the demo workers detached (own session: they outlive the caller); its pid.

    With ``metrics_port`` they are traced (console.sandbox.worker_telemetry): spans and
    logs to ``log_file``'s directory / telemetry, metrics on that port. They read the
    fault switch (console.sandbox.faults) in ``log_file``'s directory, the data dir."""
    from console.sandbox.faults import FAULTS_FILE

    ready_file.unlink(missing_ok=True)
    args = [sys.executable, "-m", WORKERS_MODULE, "--address", address, "--namespace", namespace]
    args += ["--faults-file", str(log_file.parent / FAULTS_FILE)]
    if metrics_port:
        telemetry_dir = log_file.parent / "telemetry"
        args += ["--telemetry-dir", str(telemetry_dir), "--metrics-port", str(metrics_port)]
    if seed:
        args += ["--seed", "--ready-file", str(ready_file)]
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return proc.pid


def wait_ready(pid: int, ready_file: Path, log_file: Path, timeout: float = 60.0) -> dict[str, str]:
    """Wait for the workers to seed; their demo ids. Raises with the log tail if they die."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready_file.exists():
            ids: dict[str, str] = json.loads(ready_file.read_text())
            return ids
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                break
        except ChildProcessError:
            if not _alive(pid, WORKERS_MODULE):
                break
        time.sleep(0.1)
    tail = log_file.read_text(errors="replace")[-1500:] if log_file.exists() else ""
    raise BackendUnavailable(
        "sandbox workers", f"pid {pid}", f"not ready after seeding: {tail.strip() or 'no log'}"
    )


def _start_server(
    data_dir: Path, previous: SandboxState | None, *, ui: bool, timeout: float
) -> DevServer:
    """Start the dev server, on the previous ports when they are free (context stays valid)."""
    ports: tuple[int | None, ...] = (None, None, None, None)
    if previous is not None:
        old = (previous.grpc_port, previous.http_port, previous.metrics_port, previous.ui_port)
        if all(_port_free(p) for p in old):
            ports = old
    return start_dev_server(
        data_dir / "temporal",
        grpc_port=ports[0],
        http_port=ports[1],
        metrics_port=ports[2],
        ui=ui,
        ui_port=ports[3],
        timeout=timeout,
    )


def up(data_dir: Path, *, ui: bool = True, timeout: float = 60.0) -> SandboxState:
    """Start what is not running (server, workers), seed, record; idempotent."""
    data_dir.mkdir(parents=True, exist_ok=True)
    current = _probe(data_dir)
    if current is not None and current.healthy:
        return current
    if current is not None and current.server_running:  # only the workers are down
        ports = (current.grpc_port, current.http_port, current.metrics_port, current.ui_port)
        server_pid = current.server_pid
    else:
        if current is not None and current.workers_running:
            stop_process(current.workers_pid)  # workers of a server that died
        server = _start_server(data_dir, current, ui=ui, timeout=timeout)
        ports = (server.grpc_port, server.http_port, server.metrics_port, server.ui_port)
        server_pid = server.pid
    log_file, ready_file = data_dir / "workers.log", data_dir / "workers.ready"
    address = f"127.0.0.1:{ports[0]}"
    from console.sandbox.devserver import free_port

    metrics_port = current.worker_metrics_port if current is not None else 0
    if not metrics_port or not _port_free(metrics_port):
        metrics_port = free_port()
    workers_pid = start_workers(address, NAMESPACE, log_file, ready_file, metrics_port=metrics_port)
    try:
        ids = wait_ready(workers_pid, ready_file, log_file, timeout)
    except BackendUnavailable:
        stop_process(workers_pid)
        raise
    state = SandboxState(
        data_dir=str(data_dir),
        server_pid=server_pid,
        workers_pid=workers_pid,
        grpc_port=ports[0],
        http_port=ports[1],
        metrics_port=ports[2],
        ui_port=ports[3],
        started_at=time.time(),
        demo_ids=ids,
        worker_metrics_port=metrics_port,
    )
    _write_state(data_dir, state)
    return state


def _recorded(data_dir: Path) -> SandboxState:
    state = _probe(data_dir)
    if state is None:
        raise BackendUnavailable(
            "sandbox", str(data_dir), "no sandbox recorded here; run `opsdeck sandbox up`"
        )
    return state


def stop_workers(data_dir: Path) -> SandboxState:
    """Stop only the demo workers (a chaos worker outage); the state before."""
    state = _recorded(data_dir)
    if state.workers_running:
        stop_process(state.workers_pid)
    _write_state(data_dir, replace(state, workers_running=False))
    return state


def restart_workers(data_dir: Path, *, timeout: float = 60.0) -> SandboxState:
    """Start the demo workers again on the running server (as ``up`` would); the new state."""
    state = _recorded(data_dir)
    if not state.server_running:
        raise BackendUnavailable(
            "sandbox",
            str(data_dir),
            "the Temporal dev server is not running; run `opsdeck sandbox up`",
        )
    return up(data_dir, timeout=timeout)


def down(data_dir: Path) -> bool:
    """Stop workers and server; True if anything was running. Keeps the server's data."""
    state = _probe(data_dir)
    if state is None:
        return False
    was_running = False
    if state.workers_running:
        was_running |= stop_process(state.workers_pid)
    if state.server_running:
        was_running |= stop_process(state.server_pid)
    _write_state(data_dir, replace(state, server_running=False, workers_running=False))
    return was_running


__all__ = [
    "SandboxState",
    "context_settings",
    "default_data_dir",
    "down",
    "restart_workers",
    "start_workers",
    "status",
    "stop_workers",
    "up",
    "wait_ready",
]
