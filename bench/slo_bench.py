"""`opsdeck slo show` vs the Temporal CLI's one grouped count (issue 14), run by hand.

    python bench/slo_bench.py [--runs 7]

Own in-memory dev server; closed executions made by gen_namespace's worker on its served
queue (GenCompleted / GenFailed), 1% failed. Two sizes: 400 closed (below LIST_BELOW: the
SLO lists them once) and 2,100 (above: every window and bucket is one GROUP BY count).
At each size alternates, BENCH_RUNS times:
  anchor:  temporal workflow count --query "TaskQueue = 'gen-served' GROUP BY ExecutionStatus"
  opsdeck: opsdeck slo show gen -o json   (value, budget, 4 burn windows, 24 buckets)
Whole-process wall times; medians and the pairwise median ratio, with the load average,
and the server calls one evaluation makes (in process), for bench/RESULTS.md.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
BIN = Path(sys.executable).parent

import gen_namespace  # noqa: E402

SCOPE = f"TaskQueue = '{gen_namespace.SERVED_QUEUE}'"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if out.returncode not in (0, 4):  # 4: a burn alert fires (it may, with failures)
        raise SystemExit(f"{cmd[0]} failed ({out.returncode}): {out.stderr.decode()[-500:]}")
    return elapsed


def calls(cfg: Path) -> tuple[int, int]:
    from console.session import open_session
    from console.slo.check import evaluate_named

    async def one() -> tuple[int, int]:
        session = open_session(config_path=cfg)
        try:
            report = await evaluate_named(session, "gen")
            return report.calls, int(report.counts.total)
        finally:
            await session.close()

    return asyncio.run(one())


def measure(server: gen_namespace.Server, runs: int, tmp: str, label: str) -> None:
    cfg = Path(tmp) / "config.yaml"
    cfg.write_text(
        "current-context: bench\ncontexts:\n  bench:\n    engines:\n"
        f"      - kind: temporal\n        address: {server.address}\n"
        f"        http-address: {server.http_address}\n        namespace: default\n"
        f'    slos:\n      gen:\n        query: "{SCOPE}"\n        success-rate: 99%\n'
    )
    env = dict(os.environ, OPSDECK_CONFIG=str(cfg), XDG_DATA_HOME=f"{tmp}/data")
    ours = [str(BIN / "opsdeck"), "slo", "show", "gen", "-o", "json"]
    theirs = [str(BIN / "temporal"), "workflow", "count", "--query",
              f"{SCOPE} GROUP BY ExecutionStatus", "--address", server.address]  # fmt: skip
    listing = [str(BIN / "opsdeck"), "executions", "list", "--query", SCOPE, "--limit", "0",
               "-o", "json"]  # fmt: skip
    shown = json.loads(subprocess.run(ours, env=env, capture_output=True).stdout)
    made, total = calls(cfg)
    timed(ours, env), timed(theirs, env)  # warm
    a, b, c = [], [], []
    for _ in range(runs):
        a.append(timed(ours, env))
        b.append(timed(theirs, env))
        c.append(timed(listing, env))
    med = statistics.median
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    print(f"[{label}] {total} closed, value {shown['value']:.4f}, alert {shown['alert']}; "
          f"one evaluation: {made} server calls")  # fmt: skip
    print(f"  load average {os.getloadavg()[0]:.2f} (1 min), runs={runs}")
    print(f"  temporal workflow count ... GROUP BY ExecutionStatus: median {med(b):.3f} s "
          f"{[round(x, 3) for x in b]}")  # fmt: skip
    print(f"  opsdeck slo show gen -o json: median {med(a):.3f} s {[round(x, 3) for x in a]}")
    print(f"  ratio opsdeck/temporal (pairwise median): {med(ratios):.2f}")
    print(f"  for scale: opsdeck executions list --query SCOPE --limit 0 -o json (every run): "
          f"median {med(c):.3f} s {[round(x, 3) for x in c]}")  # fmt: skip


async def fill(server: gen_namespace.Server, completed: int, failed: int) -> None:
    """Start the runs with gen_namespace's worker polling; wait (up to 10 min on a loaded
    machine) until visibility counts every run of the queue closed."""
    from temporalio.client import Client

    client = await Client.connect(server.address)
    plan = gen_namespace.Plan({"completed": completed, "failed": failed}, concurrency=20)
    async with gen_namespace.worker(client):
        report = await gen_namespace.start_all(client, plan)
        want = (await client.count_workflows(SCOPE)).count
        deadline = time.monotonic() + 600
        while (
            await client.count_workflows(f"{SCOPE} AND ExecutionStatus != 'Running'")
        ).count < want:
            if time.monotonic() > deadline:
                raise SystemExit("runs not closed within 10 minutes")
            await asyncio.sleep(0.5)
    print(f"generated {report.total} in {report.seconds:.0f} s", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "7")))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, gen_namespace.memory_server() as server:
        gen_namespace.quiet()
        asyncio.run(fill(server, 396, 4))
        measure(server, args.runs, tmp, "listing path")
        asyncio.run(fill(server, 1683, 17))
        measure(server, args.runs, tmp, "counting path")


if __name__ == "__main__":
    main()
