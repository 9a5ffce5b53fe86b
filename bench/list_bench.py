"""`executions list` at 20,000 executions vs the Temporal CLI (issue 13), run by hand.

    python bench/list_bench.py                       # own in-memory server, 20,000 running
    python bench/list_bench.py --address H:P --http-address H:P   # an already filled one

Alternates, on the same server, BENCH_RUNS times (default 7):
  opsdeck executions list -o json --limit 10000
  temporal workflow list -o json --limit 10000
and times `opsdeck executions list -o jsonl --limit 10000` to its first line and to its
end, and a floor: a stdlib-only Python process (`python -S`) that only GETs the same ten
pages over HTTP, one after the other, and decodes nothing — what any serial HTTP lister
waits for. Whole-process wall times; medians and the pairwise median ratios are printed
with the load average, for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
BIN = Path(sys.executable).parent

import gen_namespace  # noqa: E402

LIMIT = "10000"
# The floor: the same pages, fetched serially, nothing converted (the page token is
# cut out of the raw body without parsing the rest). A 429 is retried: without that a
# single one turned the loop into an endless one on a body with no token.
FLOOR = """
import http.client, sys, urllib.parse
import time
conn, token, rows = http.client.HTTPConnection(sys.argv[1]), "", 0
while rows < int(sys.argv[2]):
    q = urllib.parse.urlencode({"pageSize": "1000", **({"nextPageToken": token} if token else {})})
    conn.request("GET", "/api/v1/namespaces/default/workflows?" + q)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status == 429:  # the dev server's persistence QPS cap: retry, as opsdeck does
        time.sleep(0.05)
        continue
    if resp.status != 200:
        sys.exit(f"HTTP {resp.status}: {body[:300]!r}")
    rows += body.count(b'"execution":')
    token = body.rpartition(b'"nextPageToken":"')[2].partition(b'"')[0].decode()
    if not token:
        break
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {out.stderr.decode()[-500:]}")
    return elapsed


def first_line(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds to the first line on stdout, and to the process's end."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    proc.stdout.readline()
    first = time.perf_counter() - t0
    for _ in proc.stdout:
        pass
    proc.wait()
    return first, time.perf_counter() - t0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, http_address: str, timeout: float = 1200.0) -> float:
    """Wait until the server is idle: after a fill the in-memory dev server works for
    minutes (visibility tasks, each re-reading search attributes from persistence) and
    answers lists with 429 meanwhile (measured: 4 and 10 minutes at ~80 % of a core after
    20,000 starts, after a few idle seconds first), so timing then measures that. Idle:
    20 s at < 10 % of a core and a page answered 200."""
    t0 = time.monotonic()
    quiet = 0
    while quiet < 10 and time.monotonic() - t0 < timeout:
        before = cpu_seconds(pid)
        time.sleep(2.0)
        quiet = quiet + 1 if cpu_seconds(pid) - before < 0.2 else 0
        if quiet == 10 and not answers(http_address):
            quiet = 0
    return time.monotonic() - t0


def answers(http_address: str) -> bool:
    conn = http.client.HTTPConnection(http_address, timeout=30)
    try:
        conn.request("GET", "/api/v1/namespaces/default/workflows?pageSize=1000")
        return conn.getresponse().status == 200
    finally:
        conn.close()


def measure(address: str, http_address: str, runs: int, tmp: str) -> None:
    cfg = Path(tmp) / "config.yaml"
    cfg.write_text(
        "current-context: bench\ncontexts:\n  bench:\n    engines:\n"
        f"      - kind: temporal\n        address: {address}\n"
        f"        http-address: {http_address}\n        namespace: default\n"
    )
    env = dict(os.environ, OPSDECK_CONFIG=str(cfg), XDG_DATA_HOME=f"{tmp}/data")
    ours = [str(BIN / "opsdeck"), "executions", "list", "-o", "json", "--limit", LIMIT]
    theirs = [str(BIN / "temporal"), "workflow", "list", "-o", "json", "--limit", LIMIT,
              "--address", address]  # fmt: skip
    lines = [*ours[:3], "-o", "jsonl", "--limit", LIMIT]
    floor_cmd = [sys.executable, "-S", "-c", FLOOR, http_address, LIMIT]
    rows = json.loads(subprocess.run(ours, env=env, capture_output=True, check=True).stdout)
    assert len(rows) == int(LIMIT), f"opsdeck listed {len(rows)}, expected {LIMIT}"
    timed(ours, env), timed(theirs, env)  # warm the page cache and the server
    a, b, c, first, whole = [], [], [], [], []
    for _ in range(runs):
        a.append(timed(ours, env))
        b.append(timed(theirs, env))
        c.append(timed(floor_cmd, env))
        f, w = first_line(lines, env)
        first.append(f)
        whole.append(w)
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    med = statistics.median
    print(f"runs={runs} load average {os.getloadavg()[0]:.2f} (1 min)")
    print(f"opsdeck executions list -o json --limit {LIMIT}:  median {med(a):.3f} s  {a}")
    print(f"temporal workflow list -o json --limit {LIMIT}:  median {med(b):.3f} s  {b}")
    print(f"HTTP pages only (floor):  median {med(c):.3f} s  {c}")
    print(f"ratio opsdeck/temporal (pairwise median): {med(ratios):.2f}")
    floor = [x / y for x, y in zip(c, b, strict=True)]
    print(f"ratio floor/temporal (pairwise median): {med(floor):.2f}")
    print(
        f"opsdeck -o jsonl --limit {LIMIT}: first line {med(first):.3f} s, end {med(whole):.3f} s"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--address", help="an already filled server (else one is started)")
    p.add_argument("--http-address")
    p.add_argument("--executions", type=int, default=20000)
    p.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "7")))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.address:
            if not args.http_address:
                raise SystemExit("--http-address is needed with --address")
            measure(args.address, args.http_address, args.runs, tmp)
            return
        with gen_namespace.memory_server() as server:
            gen_namespace.quiet()

            async def fill() -> None:
                from temporalio.client import Client

                client = await Client.connect(server.address)
                # A start delay: no workflow task is dispatched to the unpolled queue.
                # Without it the in-memory server spent minutes after the fill writing
                # 20,000 tasks to the backlog and answered every list with 429
                # (persistence QPS) meanwhile: a busy server, not a listing, was measured.
                plan = gen_namespace.Plan(
                    {"running": args.executions}, running_delay=timedelta(hours=1)
                )
                report = await gen_namespace.start_all(client, plan)
                print(f"generated {report.total} in {report.seconds:.0f} s "
                      f"({report.rate_per_minute:,.0f}/min)")  # fmt: skip

            asyncio.run(fill())
            waited = settle(server.pid, server.http_address)
            print(f"server settled after {waited:.0f} s", flush=True)
            measure(server.address, server.http_address, args.runs, tmp)


if __name__ == "__main__":
    main()
