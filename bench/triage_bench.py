"""`executions triage` against listing the failures with the temporal CLI (issue 14),
run by hand.

    python bench/triage_bench.py [--failed 1000] [--completed 200] [--retrying 20] [--runs 3]

Own in-memory dev server (bench/gen_namespace.py), filled with ``--failed`` failed
runs, ``--completed`` completed ones, ``--retrying`` runs whose activity fails forever
and as many whose workflow task fails; the generator's worker keeps polling while the
commands run. Alternating, whole process each:

- anchor: ``temporal workflow list -q "ExecutionStatus = 'Failed'"`` (the failed runs,
  no failure read: what an operator starts from by hand);
- ``opsdeck executions list --status failed --limit 0 -o json`` (the same list);
- ``opsdeck executions triage -o json``: the three listings, one failure read per run
  (closed: newest history events; open: describe + newest events), grouping.

``--baseline DIR`` also runs the triage of an older source tree (``git archive COMMIT |
tar -x -C DIR``) as ``python -m console.cli`` with that tree first on the path.

Prints the medians, the pairwise ratios to the anchor and the groups found.
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
BIN = Path(sys.executable).parent

import gen_namespace  # noqa: E402


def timed(args: list[str], env: dict[str, str], tree: Path | None) -> tuple[float, str]:
    if tree is not None:
        env = dict(env, PYTHONPATH=str(tree))
    t0 = time.perf_counter()
    # cwd: ``python -m`` puts it first on the path, before PYTHONPATH.
    done = subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=900, cwd=tree or Path.cwd()
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, done.stdout


async def fill(address: str, counts: dict[str, int]) -> gen_namespace.Plan:
    from temporalio.client import Client

    client = await Client.connect(address, namespace="default")
    plan = gen_namespace.Plan(counts=counts, min_attempts=3)
    report = await gen_namespace.start_all(client, plan)
    await gen_namespace.wait_settled(client, plan, timeout=600)
    print(f"started {report.total} in {report.seconds:.1f}s", file=sys.stderr)
    return plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--failed", type=int, default=1000)
    parser.add_argument("--completed", type=int, default=200)
    parser.add_argument("--retrying", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="an older source tree to compare with")
    args = parser.parse_args()
    gen_namespace.quiet()
    sys.path.insert(0, str(HERE.parent))
    from console.sandbox.devserver import temporal_binary

    counts = {
        "failed": args.failed,
        "completed": args.completed,
        "retrying_activities": args.retrying,
        "failing_tasks": args.retrying,
    }
    with gen_namespace.memory_server(*gen_namespace.FAST_START) as server:
        work = tempfile.mkdtemp(prefix="triage-bench-")
        config = Path(work) / "config.yaml"
        config.write_text(
            "current-context: bench\ncontexts:\n  bench:\n    engines:\n"
            f"      - kind: temporal\n        address: {server.address}\n"
            f"        http-address: {server.http_address}\n        namespace: default\n"
            "        rpc-timeout: 120\n"  # a loaded 2-core machine can be slow to answer
        )
        env = dict(os.environ, OPSDECK_CONFIG=str(config), XDG_DATA_HOME=work,
                   XDG_STATE_HOME=work, XDG_CONFIG_HOME=work)  # fmt: skip
        commands = {
            "anchor: temporal workflow list (failed)": [
                temporal_binary(), "workflow", "list", "--address", server.address,
                "-q", "ExecutionStatus = 'Failed'", "--limit", str(args.failed + 1),
            ],
            "opsdeck executions list --status failed": [
                str(BIN / "opsdeck"), "executions", "list", "--status", "failed",
                "--limit", "0", "-o", "json",
            ],
            "opsdeck executions triage": [
                str(BIN / "opsdeck"), "executions", "triage", "-o", "json",
            ],
        }  # fmt: skip
        trees: dict[str, Path | None] = dict.fromkeys(commands)
        if args.baseline is not None:
            name = f"before: triage from {args.baseline}"
            commands[name] = [sys.executable, "-m", "console.cli", "executions", "triage",
                              "-o", "json"]  # fmt: skip
            trees[name] = args.baseline.resolve()

        async def run() -> dict[str, list[float]]:
            from temporalio.client import Client

            client = await Client.connect(server.address, namespace="default")
            async with gen_namespace.worker(client):
                await fill(server.address, counts)
                times: dict[str, list[float]] = {name: [] for name in commands}
                last = ""
                for _ in range(args.runs):
                    for name, cmd in commands.items():
                        seconds, out = await asyncio.to_thread(timed, cmd, env, trees[name])
                        times[name].append(seconds)
                        if name == "opsdeck executions triage":
                            last = out
                groups = json.loads(last)["groups"]
                print(json.dumps(json.loads(last)["scanned"]), file=sys.stderr)
                for g in groups:
                    print(f"  {g['verdict']:<9} {len(g['executions']):>5} runs  "
                          f"{g['workflow_type']}: {g['reason']}")  # fmt: skip
                return times

        times = asyncio.run(run())
    anchor = times["anchor: temporal workflow list (failed)"]
    print(f"\n{counts}, {args.runs} runs, load {os.getloadavg()[0]:.1f}")
    print("| command | median | runs | ratio to anchor (pairwise median) |")
    print("| --- | --- | --- | --- |")
    for name, values in times.items():
        ratio = statistics.median(v / a for v, a in zip(values, anchor, strict=True))
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {name} | {statistics.median(values):.2f} s | {runs} | {ratio:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
