"""The TUI on a 100,000-execution namespace (issue 13), run by hand.

    .venv/bin/python bench/tui_scale_bench.py [--executions 100000] [--rows 10000] [--runs 5]

Starts its own Temporal dev server, fills it with ``--executions`` open workflows on a
queue nobody polls (bench/gen_namespace.py when it is there, else the small generator
below), then alternates, ``--runs`` times, on the same server:
  - `opsdeck tui` in a fresh interpreter (the real CLI path: config, session, engine),
    headless under Pilot: time from spawn to the first row on screen, RSS then; then
    `G` until ``--rows`` rows have been read, the median time per page, and RSS after;
  - the anchor, `temporal workflow list --limit 100 -o json` (the CLI's first page),
    whole process.
Prints medians and the pairwise ratio; results go to bench/RESULTS.md by hand.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.sandbox.devserver import start_dev_server, stop_process, temporal_binary  # noqa: E402

QUEUE = "tui-scale-no-worker"

# The child: `opsdeck tui` with App.run replaced by a Pilot session that measures.
CHILD = """
import asyncio, json, os, sys, time
from console.tui import app as tui_app

ROWS = int(os.environ["BENCH_ROWS"])

def rss_kb():
    with open("/proc/self/status") as f:
        pairs = (line.split(":", 1) for line in f)
        return {k: int(v.split()[0]) for k, v in pairs if k in ("VmRSS", "VmHWM")}

async def drive(app):
    async with app.run_test(size=(160, 50)) as pilot:
        screen = app.screen_stack[0]
        deadline = time.monotonic() + 120
        while screen.table.row_count == 0:
            assert time.monotonic() < deadline, f"no first row: {screen.engines}"
            await pilot.pause(0.005)
        first = time.time()
        await app.workers.wait_for_complete()
        await pilot.pause()
        rss_first = rss_kb()
        state = next(iter(screen.engines.values()))
        pages = []
        while state.read_through < ROWS and state.has_more:
            before, t0 = state.read_through, time.perf_counter()
            await pilot.press("G")
            deadline = time.monotonic() + 60
            while state.read_through == before:
                assert time.monotonic() < deadline, f"no page after {before}: {state.text}"
                await pilot.pause(0.002)
            await pilot.pause()
            pages.append(time.perf_counter() - t0)
        rss_after = rss_kb()
        print("RESULT " + json.dumps({
            "first_row": first, "rss_first": rss_first, "rss_after": rss_after,
            "read": state.read_through, "window": len(state.rows),
            "table_rows": screen.table.row_count, "pages": pages, "status": state.text,
        }), flush=True)
    app.exit()

tui_app.OpsdeckApp.run = lambda self, **kw: asyncio.run(drive(self))
from console.cli import main
sys.exit(main(["tui"]))
"""


async def generate(address: str, count: int) -> None:
    """Open workflows on a queue nobody polls, started concurrently through the SDK."""
    from temporalio.client import Client

    client = await Client.connect(address)
    gate = asyncio.Semaphore(200)

    async def start(n: int) -> None:
        async with gate:
            await client.start_workflow("TuiScale", id=f"tui-scale-{n:06d}", task_queue=QUEUE)

    await asyncio.gather(*(start(n) for n in range(count)))


def fill(address: str, count: int, own: bool) -> str:
    t0 = time.perf_counter()
    shared = ROOT / "bench" / "gen_namespace.py"
    if shared.exists() and not own:
        cmd = [sys.executable, str(shared), "--address", address, "--running", str(count)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        how = "bench/gen_namespace.py --running"
    else:
        asyncio.run(generate(address, count))
        how = "own generator"
    return f"{count} executions started in {time.perf_counter() - t0:.0f} s ({how})"


def visible(http_address: str) -> int:
    url = f"http://{http_address}/api/v1/namespaces/default/workflow-count"
    with __import__("urllib.request").request.urlopen(url, timeout=30) as resp:
        return int(json.load(resp).get("count", 0))


def run_child(env: dict[str, str]) -> dict[str, object]:
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=900
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), "")
    if not line:
        raise SystemExit(f"child failed rc={out.returncode}\n{out.stdout[-2000:]}\n{out.stderr}")
    result: dict[str, object] = json.loads(line.removeprefix("RESULT "))
    result["first_row_s"] = float(result["first_row"]) - start  # type: ignore[arg-type]
    return result


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--own-generator", action="store_true", help="not gen_namespace.py")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = start_dev_server(root / "server")
        try:
            print(fill(server.address, args.executions, args.own_generator), flush=True)
            deadline = time.monotonic() + 600
            while (n := visible(server.http_address)) < args.executions:
                print(f"{n} visible", flush=True)
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {n} of {args.executions} visible")
                time.sleep(1)
            config = root / "config.yaml"
            config.write_text(
                "current-context: scale\ncontexts:\n  scale:\n    engines:\n"
                f"      - kind: temporal\n        address: {server.address}\n"
                f"        http-address: {server.http_address}\n        namespace: default\n"
            )
            env = dict(
                os.environ,
                OPSDECK_CONFIG=str(config),
                XDG_DATA_HOME=str(root / "data"),
                BENCH_ROWS=str(args.rows),
            )
            anchor = [temporal_binary(), "workflow", "list", "--limit", "100", "-o", "json"]
            anchor += ["--address", server.address]
            timed(anchor)  # warm the page cache
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(run_child(env))
                theirs.append(timed(anchor))
                r = ours[-1]
                pages = r["pages"]
                assert isinstance(pages, list)
                print(
                    f"first row {r['first_row_s']:.3f} s, anchor {theirs[-1]:.3f} s, "
                    f"rss first {r['rss_first']}, after {r['read']} rows {r['rss_after']}, "
                    f"window {r['window']}, table {r['table_rows']}, "
                    f"page median {statistics.median(pages) * 1000:.0f} ms, {r['status']}",
                    flush=True,
                )
            first = [float(r["first_row_s"]) for r in ours]  # type: ignore[arg-type]
            ratio = [a / b for a, b in zip(first, theirs, strict=True)]
            page = [statistics.median(r["pages"]) for r in ours]  # type: ignore[arg-type]
            rss = [r["rss_after"]["VmRSS"] / 1024 for r in ours]  # type: ignore[index]
            rss0 = [r["rss_first"]["VmRSS"] / 1024 for r in ours]  # type: ignore[index]
            print(f"load average {os.getloadavg()}")
            print(f"opsdeck tui, spawn to first row: median {statistics.median(first):.3f} s")
            print(f"temporal workflow list --limit 100: median {statistics.median(theirs):.3f} s")
            print(f"ratio (pairwise, median): {statistics.median(ratio):.2f}")
            print(f"one page on G (100 rows): median {statistics.median(page) * 1000:.0f} ms")
            print(f"RSS at first row: median {statistics.median(rss0):.0f} MiB")
            print(f"RSS after {args.rows} rows: median {statistics.median(rss):.0f} MiB")
        finally:
            stop_process(server.pid)


if __name__ == "__main__":
    main()
