"""How fast can a dev server take workflow starts? Variants side by side (issue 13).

    .venv/bin/python bench/gen_rate_bench.py [--batch 600] [--rounds 3]

Starts three in-memory dev servers at once (bench/gen_namespace.memory_server) and
alternates batches of ``--batch`` starts on each, ``--rounds`` times, so every variant
sees the same machine load:
  default   the dev server as `temporal server start-dev` configures it;
  sa-cache  gen_namespace.FAST_START: the search attribute cache left on;
  +delay    FAST_START and a start delay (no workflow task dispatched to the queue);
each over 4 client connections, 200 starts in flight, open on a queue nobody polls.
Prints starts/s and the server's CPU time per start (from /proc, via ps).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_namespace as gen

VARIANTS: dict[str, tuple[tuple[str, ...], timedelta | None]] = {
    "default": ((), None),
    "sa-cache": (gen.FAST_START, None),
    "sa-cache+delay": (gen.FAST_START, timedelta(hours=1)),
}


def cpu_seconds(pid: int) -> int:
    out = subprocess.run(["ps", "-o", "times=", "-p", str(pid)], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


async def main(batch: int, rounds: int) -> None:
    from temporalio.client import Client

    gen.quiet()
    with contextlib.ExitStack() as stack:
        servers = {k: stack.enter_context(gen.memory_server(*v[0])) for k, v in VARIANTS.items()}
        clients = {
            k: [await Client.connect(s.address) for _ in range(4)] for k, s in servers.items()
        }
        seconds = dict.fromkeys(VARIANTS, 0.0)
        cpu = dict.fromkeys(VARIANTS, 0)
        for r in range(rounds):
            for name, (_, delay) in VARIANTS.items():
                plan = gen.Plan({"running": batch}, prefix=f"r{r}", running_delay=delay)
                before = cpu_seconds(servers[name].pid)
                report = await gen.start_all(clients[name][0], plan, clients[name][1:])
                seconds[name] += report.seconds
                cpu[name] += cpu_seconds(servers[name].pid) - before
                print(f"round {r} {name}: {batch / report.seconds:.0f}/s", flush=True)
        total = batch * rounds
        for name in VARIANTS:
            print(
                f"{name}: {total / seconds[name]:.0f} starts/s, "
                f"server CPU {cpu[name] / total * 1000:.1f} ms per start",
                flush=True,
            )
        print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    t0 = time.perf_counter()
    asyncio.run(main(args.batch, args.rounds))
    print(f"took {time.perf_counter() - t0:.0f} s")
