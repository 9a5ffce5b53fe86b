"""`executions stuck` on 10,000 running executions (issue 13), run by hand.

    python bench/stuck_bench.py [--healthy 10000] [--each 5] [--runs 5]
                                [--healthy-shape delayed|ran-a-task] [--baseline DIR]
                                [--spread-queues N] [--quick]

Own in-memory dev server. First ``--each`` executions that wait for a signal (they will
be the no_progress ones), then, ``GAP`` seconds later, ``--healthy`` healthy executions
and ``--each`` with a failing workflow task, with a retrying activity and on a queue
nobody polls. The healthy ones, by ``--healthy-shape``:

- ``delayed`` (default): a delayed start (an hour) on the polled queue; they never ran a
  task, so carry no BuildIds and activity_retrying rules them out from visibility;
- ``ran-a-task`` (production-shaped): each completed one workflow task and waits for a
  signal on the polled queue: BuildIds is set, so activity_retrying describes them all,
  and no_pollers finds nothing on their queue (a live worker).

The worker keeps polling while opsdeck runs. Each run passes ``--no-progress`` just
above the age of the oldest healthy execution, so only the waiting ones qualify.

Times, alternating, whole process: the anchor (``temporal workflow list`` of every
running execution, what a check of each one starts from), the default rules
(``--task-attempts`` 6, the server's reported threshold), ``--task-attempts 3`` (below
it: every running execution described), and the rules visibility answers alone (``--rules
workflow_task_failing,no_progress,no_pollers``); prints the median time, the describes
counted by ``--explain``, describes/s, the CPU seconds the dev server and the opsdeck
process spent per run (CPU per describe is what bounds a describe-everything scan on a
small machine, whatever else runs on it), and how no_pollers got its executions.
After the fill it counts the retrying-activity executions that carry
``TemporalPauseInfo`` or ``TemporalReportedProblems`` (0: visibility has no signal for
a retrying activity). ``--baseline DIR`` also runs ``--task-attempts 6`` (today's
default rules) from an older tree (e.g. ``git archive <commit> | tar -x -C DIR``) on the
same server, alternating. ``--spread-queues N`` adds N executions, each on its own
unpolled queue (N more no_pollers hits, one more visibility query each); ``--quick``
leaves out the slow ``--task-attempts 3``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
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
VISIBILITY_RULES = ["--rules", "workflow_task_failing,no_progress,no_pollers"]
VARIANTS = {"default (--task-attempts 6)": [], "--task-attempts 3": ["--task-attempts", "3"],
            "3 rules visibility answers": VISIBILITY_RULES}  # fmt: skip
SHAPES = {"delayed": "healthy", "ran-a-task": "waiting"}  # gen_namespace kinds
_COST = re.compile(r"listed (\d+) running, described (\d+) of (-?\d+) candidates, read (\d+)")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (/proc), e.g. the dev server's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# opsdeck from another source tree: the editable install's finder would win over
# PYTHONPATH, so it is taken off first.
_FROM_TREE = (
    "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
    "getattr(f, '__module__', '')]; sys.path.insert(0, sys.argv.pop(1)); "
    "from console.cli import main; sys.exit(main())"
)


def opsdeck(tree: Path | None) -> list[str]:
    if tree is None:
        return [str(BIN / "opsdeck")]
    return [sys.executable, "-c", _FROM_TREE, str(tree)]


async def run_anchor(address: str, server_pid: int) -> float:
    """The anchor: the temporal CLI listing every running execution (what a per-execution
    check, and opsdeck's no_pollers before this pass, starts from); seconds."""
    cmd = [str(BIN / "temporal"), "workflow", "list", "--address", address, "-o", "json",
           "--limit", "1000000", "--query", "ExecutionStatus = 'Running'"]  # fmt: skip
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"temporal workflow list failed: {err.decode()[-400:]}")
    return time.perf_counter() - t0


async def run_stuck(
    extra: list[str], env: dict[str, str], healthy_since: float, server_pid: int,
    tree: Path | None = None,
) -> dict[str, object]:  # fmt: skip
    threshold = int(time.time() - healthy_since) + 5
    cmd = [*opsdeck(tree), "executions", "stuck", "--explain", "-o", "json",
           "--no-progress", f"{threshold}s", *extra]  # fmt: skip
    server0, client0 = cpu_seconds(server_pid), children_cpu()
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *cmd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    elapsed = time.perf_counter() - t0
    server_cpu, client_cpu = cpu_seconds(server_pid) - server0, children_cpu() - client0
    if proc.returncode != 0:
        raise SystemExit(f"stuck failed: {err.decode()[-800:]}")
    cost = _COST.search(err.decode())
    assert cost, err.decode()
    path = re.findall(r"no_pollers: (.*)", err.decode())[-1:]  # the cost line, after the plan
    hits = json.loads(out)
    rules: dict[str, int] = {}
    for hit in hits:
        rules[hit["rule"]] = rules.get(hit["rule"], 0) + 1
    return {"seconds": elapsed, "listed": int(cost[1]), "describes": int(cost[2]),
            "histories": int(cost[4]), "hits": rules, "server_cpu": server_cpu,
            "client_cpu": client_cpu, "no_pollers": path[0] if path else "-"}  # fmt: skip


async def bench(
    server: gen_namespace.Server, healthy: int, each: int, runs: int, baseline: Path | None,
    shape: str = "delayed", spread: int = 0, quick: bool = False,
) -> None:  # fmt: skip
    from temporalio.client import Client

    client = await Client.connect(server.address)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(
            "current-context: bench\ncontexts:\n  bench:\n    engines:\n"
            f"      - kind: temporal\n        address: {server.address}\n"
            f"        http-address: {server.http_address}\n        namespace: default\n"
            # A loaded 2-core machine can keep a list page past the default 10 s.
            "        rpc-timeout: 120\n"
        )
        env = dict(os.environ, OPSDECK_CONFIG=str(cfg), XDG_DATA_HOME=f"{tmp}/data")
        async with gen_namespace.worker(client):
            first = gen_namespace.Plan({"waiting": each}, prefix="old")
            await gen_namespace.start_all(client, first)
            await gen_namespace.wait_settled(client, first)
            await asyncio.sleep(GAP)
            healthy_since = time.time()
            rest = gen_namespace.Plan(
                {SHAPES[shape]: healthy, "failing_tasks": each, "retrying_activities": each,
                 "running": each},
                prefix="new",
                min_attempts=6,  # the server reports a failing task from attempt 6
            )  # fmt: skip
            report = await gen_namespace.start_all(client, rest)
            for i in range(spread):  # one never-run execution per unpolled queue
                await client.start_workflow("GenIdle", id=f"gen-spread-{i}",
                                            task_queue=f"gen-spread-{i}")  # fmt: skip
            print(f"generated {report.total} in {report.seconds:.0f} s "
                  f"({report.rate_per_minute:,.0f}/min)", flush=True)  # fmt: skip
            await gen_namespace.wait_settled(client, rest, timeout=600)
            retrying = "WorkflowType = 'GenRetryingActivity' AND ExecutionStatus = 'Running'"
            flagged = f"{retrying} AND (TemporalPauseInfo IS NOT NULL OR " \
                "TemporalReportedProblems IS NOT NULL)"  # fmt: skip
            print(f"retrying activities: {(await client.count_workflows(retrying)).count}, "
                  f"with TemporalPauseInfo or TemporalReportedProblems: "
                  f"{(await client.count_workflows(flagged)).count}", flush=True)  # fmt: skip
            variants: dict[str, tuple[list[str], Path | None]] = {
                name: (extra, None)
                for name, extra in VARIANTS.items()
                if not (quick and name == "--task-attempts 3")
            }
            if baseline is not None:
                # The old tree's default was 3: give it 6, the same rules as now.
                variants["before: --task-attempts 6"] = (["--task-attempts", "6"], baseline)
            results: dict[str, list[dict[str, object]]] = {name: [] for name in variants}
            anchor: list[float] = []
            for _ in range(runs):
                anchor.append(await run_anchor(server.address, server.pid))
                print(f"  anchor: temporal workflow list (running): {anchor[-1]:.2f} s")
                for name, (extra, tree) in variants.items():
                    try:
                        row = await run_stuck(extra, env, healthy_since, server.pid, tree)
                    except SystemExit as failed:  # one failed run: say so, go on
                        print(f"  {name}: {failed}", flush=True)
                        continue
                    results[name].append(row)
                    print(f"  {name}: {row['seconds']:.2f} s", flush=True)
    total = healthy + 4 * each + spread
    print(f"runs={runs} load average {os.getloadavg()[0]:.2f}; running {total}; "
          f"healthy shape {shape}, {spread} more unpolled queues")  # fmt: skip
    if anchor:
        print(f"anchor `temporal workflow list --query \"ExecutionStatus = 'Running'\"`: "
              f"median {statistics.median(anchor):.2f} s "
              f"{[round(a, 2) for a in anchor]}")  # fmt: skip
    for name, rows in results.items():
        if not rows:
            print(f"{name}: every run failed")
            continue
        seconds = [float(r["seconds"]) for r in rows]  # type: ignore[arg-type]
        median = statistics.median(seconds)
        last = rows[-1]
        described = int(last["describes"])  # type: ignore[call-overload]
        server_cpu = statistics.median(float(r["server_cpu"]) for r in rows)  # type: ignore[arg-type]
        client_cpu = statistics.median(float(r["client_cpu"]) for r in rows)  # type: ignore[arg-type]
        per = f", server CPU {server_cpu / described * 1000:.2f} ms/describe" if described else ""
        print(f"{name}: median {median:.2f} s {[round(s, 2) for s in seconds]}"
              f"; listed {last['listed']}, describes {described} ({described / median:,.0f}/s)"
              f", histories {last['histories']}, hits {last['hits']}; CPU server "
              f"{server_cpu:.1f} s, opsdeck {client_cpu:.1f} s{per}; no_pollers: "
              f"{last['no_pollers']}")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--healthy", type=int, default=10000)
    p.add_argument("--each", type=int, default=5, help="stuck executions of each kind")
    p.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    p.add_argument("--baseline", type=Path, help="an older source tree to compare with")
    p.add_argument("--healthy-shape", choices=sorted(SHAPES), default="delayed")
    p.add_argument(
        "--spread-queues",
        type=int,
        default=0,
        help="N more unpolled queues, "
        "one execution each (what the task-queue probes cost per queue)",
    )
    p.add_argument("--quick", action="store_true", help="leave out --task-attempts 3")
    args = p.parse_args()
    gen_namespace.quiet()
    with gen_namespace.memory_server() as server:
        asyncio.run(
            bench(
                server,
                args.healthy,
                args.each,
                args.runs,
                args.baseline,
                args.healthy_shape,
                args.spread_queues,
                args.quick,
            )
        )


if __name__ == "__main__":
    main()
