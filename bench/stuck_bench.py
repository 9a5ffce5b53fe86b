"""`executions stuck` on 10,000 running executions (issue 13), run by hand.

    python bench/stuck_bench.py [--healthy 10000] [--each 5] [--runs 5]

Own in-memory dev server. First ``--each`` executions that wait for a signal (they will
be the no_progress ones), then, ``GAP`` seconds later, ``--healthy`` healthy executions
(delayed start on a queue this process's worker polls), and ``--each`` with a failing
workflow task, with a retrying activity and on a queue nobody polls. The worker keeps
polling while opsdeck runs. Each run passes ``--no-progress`` just above the age of the
oldest healthy execution, so only the waiting ones are old enough to qualify.

Times, alternating, whole process: default rules (activity_retrying needs a describe of
every running execution) and the rules visibility can narrow (``--rules
workflow_task_failing,no_progress,no_pollers --task-attempts 6``); prints the median
time and the describes counted by ``--explain``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
BIN = Path(sys.executable).parent

import gen_namespace  # noqa: E402

GAP = 20.0  # seconds between the waiting ones and the rest
NARROW = ["--rules", "workflow_task_failing,no_progress,no_pollers", "--task-attempts", "6"]
_COST = re.compile(r"listed (\d+) running, described (\d+) of (-?\d+) candidates, read (\d+)")


async def run_stuck(
    extra: list[str], env: dict[str, str], healthy_since: float
) -> dict[str, object]:
    threshold = int(time.time() - healthy_since) + 5
    cmd = [str(BIN / "opsdeck"), "executions", "stuck", "--explain", "-o", "json",
           "--no-progress", f"{threshold}s", *extra]  # fmt: skip
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *cmd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"stuck failed: {err.decode()[-800:]}")
    cost = _COST.search(err.decode())
    assert cost, err.decode()
    hits = json.loads(out)
    rules: dict[str, int] = {}
    for hit in hits:
        rules[hit["rule"]] = rules.get(hit["rule"], 0) + 1
    return {"seconds": elapsed, "listed": int(cost[1]), "describes": int(cost[2]),
            "histories": int(cost[4]), "hits": rules}  # fmt: skip


async def bench(server: gen_namespace.Server, healthy: int, each: int, runs: int) -> None:
    from temporalio.client import Client

    client = await Client.connect(server.address)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(
            "current-context: bench\ncontexts:\n  bench:\n    engines:\n"
            f"      - kind: temporal\n        address: {server.address}\n"
            f"        http-address: {server.http_address}\n        namespace: default\n"
        )
        env = dict(os.environ, OPSDECK_CONFIG=str(cfg), XDG_DATA_HOME=f"{tmp}/data")
        async with gen_namespace.worker(client):
            first = gen_namespace.Plan({"waiting": each}, prefix="old")
            await gen_namespace.start_all(client, first)
            await gen_namespace.wait_settled(client, first)
            await asyncio.sleep(GAP)
            healthy_since = time.time()
            rest = gen_namespace.Plan(
                {"healthy": healthy, "failing_tasks": each, "retrying_activities": each,
                 "running": each},
                prefix="new",
                min_attempts=6,  # the server reports a failing task from attempt 6
            )  # fmt: skip
            report = await gen_namespace.start_all(client, rest)
            print(f"generated {report.total} in {report.seconds:.0f} s "
                  f"({report.rate_per_minute:,.0f}/min)", flush=True)  # fmt: skip
            await gen_namespace.wait_settled(client, rest, timeout=300)
            results: dict[str, list[dict[str, object]]] = {"default": [], "narrowed": []}
            for _ in range(runs):
                results["default"].append(await run_stuck([], env, healthy_since))
                results["narrowed"].append(await run_stuck(NARROW, env, healthy_since))
    print(f"runs={runs} load average {os.getloadavg()[0]:.2f}; running {healthy + 4 * each}")
    for name, rows in results.items():
        seconds = [float(r["seconds"]) for r in rows]  # type: ignore[arg-type]
        last = rows[-1]
        print(f"{name}: median {statistics.median(seconds):.2f} s {[round(s, 2) for s in seconds]}"
              f"; listed {last['listed']}, describes {last['describes']}, histories "
              f"{last['histories']}, hits {last['hits']}")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--healthy", type=int, default=10000)
    p.add_argument("--each", type=int, default=5, help="stuck executions of each kind")
    p.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    args = p.parse_args()
    gen_namespace.quiet()
    with gen_namespace.memory_server() as server:
        asyncio.run(bench(server, args.healthy, args.each, args.runs))


if __name__ == "__main__":
    main()
