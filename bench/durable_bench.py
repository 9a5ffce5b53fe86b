"""Durable runbook runs vs local ones, run by hand: `.venv/bin/python bench/durable_bench.py`.

Starts its own Temporal dev server and one `opsdeck worker`, then times, alternating,
the same runbook (count check, decision answered up front, terminate one execution):
  - `opsdeck runbook run BOOK --yes` (local, in the CLI process);
  - `opsdeck runbook run BOOK --durable --yes` (started, followed to the end).
Then kills a worker held before the second of two actions and times a new worker's
start to the run's end (heartbeat 2 s). Prints medians; results go to bench/RESULTS.md
by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPSDECK = str(Path(sys.executable).parent / "opsdeck")
sys.path.insert(0, str(ROOT))

from console.sandbox.devserver import start_dev_server, stop_process  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "10"))

BOOK = """\
name: bench-durable
title: Check, decide, act
engines: [temporal]
parameters:
  target: {type: string, required: true}
steps:
  - id: look
    kind: check
    text: Is it running?
    query: count
    args: {status: running, query: "WorkflowId = '{{ params.target }}'"}
  - id: decide
    kind: decision
    text: Stop it?
    question: Terminate?
    choices: {stop: next, leave: end}
  - id: act
    kind: action
    text: Terminate it.
    action: terminate
    targets: ["temporal:default/{{ params.target }}"]
"""

TWO = """\
name: bench-two
title: Two actions
engines: [temporal]
parameters:
  first: {type: string, required: true}
  second: {type: string, required: true}
steps:
  - {id: a, kind: action, text: a, action: terminate, targets: "{{ params.first }}"}
  - {id: b, kind: action, text: b, action: terminate, targets: "{{ params.second }}"}
"""


def worker(env: dict[str, str], log: Path, **extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [OPSDECK, "worker"], env=env | extra, stdout=subprocess.DEVNULL, stderr=log.open("wb")
    )
    while b"(ready)" not in log.read_bytes():
        assert proc.poll() is None, log.read_text()
        time.sleep(0.02)
    return proc


async def targets(address: str, n: int) -> list[str]:
    from temporalio.client import Client

    client = await Client.connect(address)
    ids = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(n)]
    for wid in ids:
        await client.start_workflow("Nobody", id=wid, task_queue="bench-no-worker")
    return ids


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "done", done.stdout
    return elapsed


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="opsdeck-durable-bench-"))
    server = start_dev_server(work / "temporal")
    try:
        config = work / "config.yaml"
        config.write_text(
            f"""\
current-context: bench
contexts:
  bench:
    runbook-task-queue: bench-runbooks
    runbook-heartbeat: 2s
    engines:
      - kind: temporal
        address: {server.address}
        http-address: {server.http_address}
        namespace: default
"""
        )
        book = work / "book.yaml"
        book.write_text(BOOK)
        two = work / "two.yaml"
        two.write_text(TWO)
        env = dict(os.environ, OPSDECK_CONFIG=str(config), XDG_DATA_HOME=str(work / "data"))
        env.pop(TEST_HOLD, None)
        first = worker(env, work / "worker.log")
        ids = asyncio.run(targets(server.address, 2 * RUNS))
        base = [OPSDECK, "runbook", "run", str(book), "--answer", "decide=stop", "--yes"]
        local, durable = [], []
        for i in range(RUNS):
            args = [*base, "--param", f"target={ids[2 * i]}", "-o", "json"]
            local.append(timed(args, env))
            args = [*base, "--param", f"target={ids[2 * i + 1]}", "-o", "json", "--durable"]
            durable.append(timed(args, env))
        print(f"local run (check, decision, action): median {statistics.median(local):.3f}s")
        print(f"durable run, started and followed:   median {statistics.median(durable):.3f}s")

        first.send_signal(signal.SIGTERM)
        first.wait()
        resumes = []
        for i in range(3):
            a, b = asyncio.run(targets(server.address, 2))
            held = worker(env, work / f"held-{i}.log", **{TEST_HOLD: "before:b"})
            args = [OPSDECK, "runbook", "run", str(two), "--durable", "--detach", "--yes"]
            args += [
                "--param",
                f"first=temporal:default/{a}",
                "--param",
                f"second=temporal:default/{b}",
            ]
            started = subprocess.run([*args, "-o", "json"], env=env, capture_output=True, text=True)
            run_id = json.loads(started.stdout)["id"]
            marker = work / "data" / "opsdeck" / f"hold-{run_id}"
            while not marker.exists():
                time.sleep(0.02)
            os.kill(held.pid, signal.SIGKILL)
            held.wait()
            marker.unlink()
            t0 = time.perf_counter()
            fresh = worker(env, work / f"fresh-{i}.log")
            while True:
                shown = subprocess.run(
                    [OPSDECK, "runbook", "runs", run_id, "-o", "json"],
                    env=env, capture_output=True, text=True,
                )  # fmt: skip
                if json.loads(shown.stdout)["status"] == "done":
                    break
                time.sleep(0.1)
            resumes.append(time.perf_counter() - t0)
            fresh.send_signal(signal.SIGTERM)
            fresh.wait()
        print(
            f"worker killed before step b, new worker start to run done (heartbeat 2s): "
            f"median {statistics.median(resumes):.2f}s ({', '.join(f'{r:.2f}' for r in resumes)})"
        )
    finally:
        stop_process(server.pid)


TEST_HOLD = "OPSDECK_RUNBOOK_HOLD"

if __name__ == "__main__":
    main()
