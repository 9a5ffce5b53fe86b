"""Whole-process benchmarks for issue 2, run by hand: `make bench`.

Starts its own Temporal dev server, seeds 2,000 workflows, then times, alternating and
on the same server:
  - `opsdeck executions list -o json --limit 1000` vs `temporal workflow list -o json
    --limit 1000` (median ratio; target <= 1.5);
  - `opsdeck --version` (target < 0.3 s);
  - launch of the TUI in tmux until the first executions row is on screen (target < 1.5 s).
Results are appended to bench/RESULTS.md by hand from what this prints.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from console.sandbox.devserver import start_dev_server, stop_process  # noqa: E402

WORKFLOWS = 2000
RUNS = int(os.environ.get("BENCH_RUNS", "15"))


async def seed(address: str) -> None:
    from temporalio.client import Client

    client = await Client.connect(address)
    sem = asyncio.Semaphore(64)

    async def start(i: int) -> None:
        async with sem:
            # No worker polls this queue: the executions stay open, as a backlog would.
            await client.start_workflow(
                "BenchWorkflow", id=f"bench-{i:05d}", task_queue="bench-no-worker"
            )

    await asyncio.gather(*(start(i) for i in range(WORKFLOWS)))


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {out.stderr.decode()[-500:]}")
    return elapsed


def first_table_seconds(env: dict[str, str]) -> float:
    """Launch the TUI in a detached tmux session; poll the pane for the first row."""
    session = f"opsdeck-bench-{os.getpid()}"
    env_args = [f"{k}={v}" for k, v in env.items() if k.startswith(("OPSDECK", "XDG"))]
    # The pane outlives a crash at start, so its message is captured instead of a bare
    # tmux error (Textual draws on stderr: it cannot be redirected).
    cmd = ["sh", "-c", f"env {' '.join(env_args)} {BIN / 'opsdeck'}; sleep 30"]
    t0 = time.perf_counter()
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50", *cmd], check=True
    )
    try:
        while time.perf_counter() - t0 < 20:
            pane = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout
            if "bench-0" in pane:
                return time.perf_counter() - t0
            time.sleep(0.02)
        raise SystemExit(f"TUI showed no executions within 20 s:\n{pane}")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_dev_server(Path(tmp) / "server")
        try:
            asyncio.run(seed(server.address))
            cfg = Path(tmp) / "config.yaml"
            cfg.write_text(
                "current-context: bench\ncontexts:\n  bench:\n    engines:\n"
                f"      - kind: temporal\n        address: {server.address}\n"
                f"        http-address: {server.http_address}\n        namespace: default\n"
            )
            env = dict(os.environ, OPSDECK_CONFIG=str(cfg), XDG_DATA_HOME=f"{tmp}/data")
            ours = [str(BIN / "opsdeck"), "executions", "list", "-o", "json", "--limit", "1000"]
            theirs = [str(BIN / "temporal"), "workflow", "list", "-o", "json", "--limit", "1000",
                      "--address", server.address]  # fmt: skip
            n = len(__import__("json").loads(subprocess.run(ours, env=env, capture_output=True,
                                                             check=True).stdout))  # fmt: skip
            assert n == 1000, f"opsdeck listed {n} executions, expected 1000"
            timed(ours, env), timed(theirs, env)  # warm the page cache
            a, b = [], []
            for _ in range(RUNS):
                a.append(timed(ours, env))
                b.append(timed(theirs, env))
            ratios = [x / y for x, y in zip(a, b, strict=True)]
            version = [timed([str(BIN / "opsdeck"), "--version"], env) for _ in range(RUNS)]
            tui = [first_table_seconds(env) for _ in range(5)]
            print(f"runs={RUNS} workflows={WORKFLOWS}")
            print(
                f"opsdeck executions list -o json --limit 1000: median {statistics.median(a):.3f} s"
            )
            print(
                f"temporal workflow list -o json --limit 1000: median {statistics.median(b):.3f} s"
            )
            print(f"ratio (pairwise, median): {statistics.median(ratios):.2f}")
            print(f"opsdeck --version: median {statistics.median(version):.3f} s")
            print(
                f"TUI launch to first executions row (tmux): median {statistics.median(tui):.3f} s"
            )
        finally:
            stop_process(server.pid)


if __name__ == "__main__":
    main()
