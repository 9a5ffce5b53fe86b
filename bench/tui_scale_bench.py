"""The TUI on a 100,000-execution namespace (issue 13), run by hand.

    .venv/bin/python bench/tui_scale_bench.py [--executions 100000] [--rows 10000] [--runs 5]
        [--fill-budget 900] [--server memory|file] [--existing GRPC HTTP OLDEST_ID]
        [--first-only] [--importtime FILE] [--baseline TREE]

Starts its own Temporal dev server (default: in memory with gen_namespace.FAST_START;
``--server file``: the SQLite file the fixtures use), fills it with ``--executions``
open workflows on a queue nobody polls (gen_namespace.start_all: 4 connections, 200 in
flight, a start delay so no task is dispatched; ``--fill-budget`` seconds at most, the
rate is printed), then alternates, ``--runs`` times, on the same server:
  - `opsdeck tui` in a fresh interpreter (the real CLI path: config, session, engine),
    headless under Pilot: time from spawn to the first row on screen, RSS then; then
    `G` until ``--rows`` rows have been read, the time per page (median, first and last
    ten), and RSS after; then `/` + the id of the oldest execution + enter: time until
    the server search shows it, and escape: time until the listing is back;
  - the anchor, `temporal workflow list --limit 100 -o json` (the CLI's first page),
    whole process.
Prints medians and the pairwise ratio; results go to bench/RESULTS.md by hand.

The first row is broken down by stamps in the child (seconds from spawn: interpreter
up, TUI imported, session made, app and screen mounted, first list page sent and
answered, count sent and answered, first rows painted), next to the server's own time
for raw GETs of the first page (50, 100, 500 rows) and the count, and the interpreter
alone. ``--first-only`` stops each child at the first row; ``--importtime FILE`` runs
one more child under ``-X importtime`` and lists the imports before the first paint;
``--baseline TREE`` (e.g. ``git archive HEAD~1 | tar -x -C TREE``) runs that tree's
code alternately with this one, in the same rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.sandbox.devserver import start_dev_server, stop_process, temporal_binary  # noqa: E402

QUEUE = "tui-scale-no-worker"

# The child: `opsdeck tui` with App.run replaced by a Pilot session that measures.
CHILD = """
import time
T = {"child_start": time.time()}  # wall clock: the parent stamps the spawn
import asyncio, functools, json, os, sys
from console.tui import app as tui_app
T["tui_imported"] = time.time()
import console.cli_admin as admin
from adapters import temporal_http
from console.tui.screens import executions as screens

def stamped(owner, name, before, after):
    # Stamps the first call only: the first list page, the first count.
    original = getattr(owner, name)
    @functools.wraps(original)  # Textual passes the event only if the signature asks
    def call(*args, **kwargs):
        T.setdefault(before, time.time())
        try:
            return original(*args, **kwargs)
        finally:
            T.setdefault(after, time.time())
    setattr(owner, name, call)

stamped(admin, "session_for", "session_start", "session_done")
stamped(temporal_http.HttpVisibility, "list_page", "list_sent", "list_answered")
stamped(temporal_http.HttpVisibility, "count", "count_sent", "count_answered")
stamped(screens.ExecutionsScreen, "on_mount", "screen_mount", "screen_mounted")
original_init = tui_app.OpsdeckApp.__init__
def init(self, *args, **kwargs):
    T.setdefault("app_init", time.time())
    original_init(self, *args, **kwargs)
    def painted():
        T.setdefault("first_paint", time.time())
        print("BENCH first paint", file=sys.stderr, flush=True)  # splits -X importtime
    self.on_first_table = painted
tui_app.OpsdeckApp.__init__ = init

ROWS = int(os.environ["BENCH_ROWS"])
SEARCH = os.environ["BENCH_SEARCH"]

def rss_kb():
    with open("/proc/self/status") as f:
        pairs = (line.split(":", 1) for line in f)
        return {k: int(v.split()[0]) for k, v in pairs if k in ("VmRSS", "VmHWM")}

async def drive(app):
    async with app.run_test(size=(160, 50)) as pilot:
        screen = app.screen_stack[0]
        deadline = time.monotonic() + 120
        T["app_running"] = time.time()
        while screen.table.row_count == 0:
            assert time.monotonic() < deadline, f"no first row: {screen.engines}"
            await pilot.pause(0.005)
        first = time.time()
        await app.workers.wait_for_complete()
        await pilot.pause()
        rss_first = rss_kb()
        if os.environ.get("BENCH_FIRST_ONLY"):
            print("RESULT " + json.dumps({"first_row": first, "rss_first": rss_first,
                                          "stamps": T}), flush=True)
            app.exit()
            return
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
        paged = {"read": state.read_through, "window": len(state.rows),
                 "table_rows": screen.table.row_count, "status": state.text}
        window = [row.key for row in screen.shown_rows]
        await pilot.press("slash", *SEARCH)
        t0 = time.perf_counter()
        await pilot.press("enter")
        found = lambda: [r.execution.ref.workflow_id for r in screen.shown_rows] == [SEARCH]
        deadline = time.monotonic() + 120
        while not found():
            assert time.monotonic() < deadline, f"search found nothing: {screen.engines}"
            await pilot.pause(0.002)
        search = time.perf_counter() - t0
        await app.workers.wait_for_complete()
        t0 = time.perf_counter()
        await pilot.press("escape")
        while [row.key for row in screen.shown_rows] != window:
            assert time.monotonic() < deadline, "escape did not restore the listing"
            await pilot.pause(0.002)
        restore = time.perf_counter() - t0
        print("RESULT " + json.dumps({
            "search": search, "restore": restore,
            "first_row": first, "rss_first": rss_first, "rss_after": rss_after,
            "pages": pages, "stamps": T, **paged,
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


def run_child(env: dict[str, str], tree: Path = ROOT) -> dict[str, object]:
    """One child; ``tree``: the source tree it imports opsdeck from (``-c`` puts the
    working directory first on sys.path)."""
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tree,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), "")
    if not line:
        raise SystemExit(f"child failed rc={out.returncode}\n{out.stdout[-2000:]}\n{out.stderr}")
    result: dict[str, object] = json.loads(line.removeprefix("RESULT "))
    result["first_row_s"] = float(result["first_row"]) - start  # type: ignore[arg-type]
    stamps: dict[str, float] = result.pop("stamps")  # type: ignore[assignment]
    result["breakdown"] = {k: v - start for k, v in sorted(stamps.items(), key=lambda kv: kv[1])}
    return result


# Stamps of the child, in the order they happen, for the breakdown (seconds from spawn).
STAMPS = (
    "child_start", "tui_imported", "session_start", "session_done", "app_init",
    "screen_mount", "screen_mounted", "list_sent", "count_sent", "list_answered",
    "first_paint", "app_running", "count_answered",
)  # fmt: skip


def http_get(http_address: str, path: str, params: dict[str, str]) -> float:
    """Seconds for one raw visibility GET (what the server takes, plus one connection)."""
    from urllib.parse import urlencode
    from urllib.request import urlopen

    url = f"http://{http_address}/api/v1/namespaces/default/{path}?{urlencode(params)}"
    t0 = time.perf_counter()
    with urlopen(url, timeout=60) as resp:
        resp.read()
    return time.perf_counter() - t0


def server_times(http_address: str) -> dict[str, float]:
    """The server's side of the first row: the first page at 50/100/500 rows, count."""
    return {
        "GET workflows pageSize=50": http_get(http_address, "workflows", {"pageSize": "50"}),
        "GET workflows pageSize=100": http_get(http_address, "workflows", {"pageSize": "100"}),
        "GET workflows pageSize=500": http_get(http_address, "workflows", {"pageSize": "500"}),
        "GET workflow-count": http_get(http_address, "workflow-count", {}),
    }


def start_up_times() -> dict[str, float]:
    """The interpreter alone, and with the TUI's imports (fresh process each)."""
    return {
        "python -c pass": timed([sys.executable, "-c", "pass"]),
        "python -c 'import console.tui.app'": timed(
            [sys.executable, "-c", "import console.tui.app"]
        ),
    }


def import_profile(env: dict[str, str], path: Path) -> None:
    """One child under -X importtime; the slowest imports (cumulative) are printed."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", CHILD],
        env=dict(env, BENCH_FIRST_ONLY="1"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    path.write_text(out.stderr)
    top: list[tuple[int, str]] = []
    before_paint = out.stderr.split("BENCH first paint")[0]
    for line in before_paint.splitlines():
        parts = line.removeprefix("import time:").split("|")
        # "self | cumulative | name": the name's indent is its depth; 1 space: top level.
        if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2].startswith("  "):
            top.append((int(parts[1]), parts[2].strip()))
    total = sum(c for c, _ in top) / 1000
    print(f"-X importtime written to {path}; before the first paint {total:.0f} ms, top:")
    for cumulative, name in sorted(top, reverse=True)[:15]:
        print(f"  {cumulative / 1000:7.1f} ms  {name}")


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


async def fast_fill(address: str, count: int, budget: float) -> tuple[int, str, str]:
    """gen_namespace.start_all over 4 connections; (started, oldest id, what it took)."""
    from datetime import timedelta

    from temporalio.client import Client

    sys.path.insert(0, str(ROOT / "bench"))
    import gen_namespace as gen

    gen.quiet()
    plan = gen.Plan({"running": count}, concurrency=200, budget=budget)
    plan.running_delay = timedelta(hours=1)
    clients = [await Client.connect(address) for _ in range(4)]
    report = await gen.start_all(clients[0], plan, clients[1:])
    started = report.total
    how = (
        f"{started} of {count} executions started in {report.seconds:.0f} s "
        f"({started / report.seconds:.0f}/s; gen_namespace.start_all, 4 connections, "
        f"start delay 1h, load {os.getloadavg()[0]:.1f}; {report.failed} timed out)"
    )
    return started, plan.ids("running")[0], how


@contextlib.contextmanager
def dev_server(kind: str, root: Path) -> Iterator[tuple[str, str]]:
    """(gRPC address, HTTP address) of a fresh dev server, stopped on exit."""
    if kind == "memory":
        sys.path.insert(0, str(ROOT / "bench"))
        import gen_namespace as gen

        with gen.memory_server(*gen.FAST_START) as mem:
            yield mem.address, mem.http_address
        return
    server = start_dev_server(root / "server")
    try:
        yield server.address, server.http_address
    finally:
        stop_process(server.pid)


def fill_server(args: argparse.Namespace, address: str, http_address: str) -> str:
    """Fill the server, wait until visibility shows it all; the oldest id."""
    if args.own_generator:
        print(fill(address, args.executions, True), flush=True)
        started, oldest = args.executions, "tui-scale-000000"
    else:
        started, oldest, how = asyncio.run(fast_fill(address, args.executions, args.fill_budget))
        print(how, flush=True)
    deadline = time.monotonic() + 600
    while (n := visible(http_address)) < started:
        print(f"{n} visible", flush=True)
        if time.monotonic() > deadline:
            raise SystemExit(f"only {n} of {started} visible")
        time.sleep(1)
    return oldest


def breakdown(ours: list[dict[str, Any]], extra: list[dict[str, float]]) -> None:
    """Median seconds from spawn to each stamp of the child, then the side measures."""
    print("spawn to ... (median over runs, s):")
    for stamp in STAMPS:
        values = [r["breakdown"][stamp] for r in ours if stamp in r["breakdown"]]
        if values:
            print(f"  {stamp:15s} {statistics.median(values):.3f}")
    for name in extra[0] if extra else ():
        print(f"  {name}: median {statistics.median([e[name] for e in extra]):.3f} s")


def summary(r: dict[str, Any]) -> str:
    if "pages" not in r:
        return f"rss first {r['rss_first']}"
    return (
        f"rss first {r['rss_first']}, after {r['read']} rows {r['rss_after']}, "
        f"window {r['window']}, table {r['table_rows']}, "
        f"page median {statistics.median(r['pages']) * 1000:.0f} ms, "
        f"search {r['search']:.3f} s, escape {r['restore'] * 1000:.0f} ms, {r['status']}"
    )


def report(ours: list[dict[str, Any]], theirs: list[float], rows: int) -> None:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    first = [float(r["first_row_s"]) for r in ours]
    ratio = [a / b for a, b in zip(first, theirs, strict=True)]
    print(f"load average {os.getloadavg()}")
    print(f"opsdeck tui, spawn to first row: median {median(first):.3f} s")
    print(f"temporal workflow list --limit 100: median {median(theirs):.3f} s")
    print(f"ratio (pairwise, median): {median(ratio):.2f}")
    if "pages" not in ours[0]:
        return
    for what, part in (
        ("all", slice(None)),
        ("first 10", slice(0, 10)),
        ("last 10", slice(-10, None)),
    ):
        page = median([median(r["pages"][part]) for r in ours])
        print(f"one page on G (100 rows), {what}: median {page * 1000:.0f} ms")
    print(
        f"RSS at first row: median {median([r['rss_first']['VmRSS'] / 1024 for r in ours]):.0f} MiB"
    )
    rss = median([r["rss_after"]["VmRSS"] / 1024 for r in ours])
    print(f"RSS after {rows} rows: median {rss:.0f} MiB")
    print(
        "search of the oldest id (enter to row): "
        f"median {median([r['search'] for r in ours]):.3f} s"
    )
    print(
        f"escape back to the listing: median {median([r['restore'] for r in ours]) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fill-budget", type=float, default=900, help="seconds of starts")
    parser.add_argument("--server", choices=("memory", "file"), default="memory")
    parser.add_argument("--own-generator", action="store_true", help="the slow one below")
    parser.add_argument(
        "--existing",
        nargs=3,
        metavar=("GRPC", "HTTP", "OLDEST_ID"),
        help="measure a server already filled (no server started, no fill)",
    )
    parser.add_argument("--first-only", action="store_true", help="first row only, no paging")
    parser.add_argument("--importtime", type=Path, help="one more child under -X importtime")
    parser.add_argument(
        "--baseline", type=Path, help="another source tree (git archive), run alternately"
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.existing:
            address, http_address, oldest = args.existing
            print(f"{visible(http_address)} executions on {address}", flush=True)
        else:
            address, http_address = stack.enter_context(dev_server(args.server, root))
            oldest = fill_server(args, address, http_address)
        config = root / "config.yaml"
        config.write_text(
            "current-context: scale\ncontexts:\n  scale:\n    engines:\n"
            f"      - kind: temporal\n        address: {address}\n"
            f"        http-address: {http_address}\n        namespace: default\n"
        )
        env = dict(
            os.environ,
            OPSDECK_CONFIG=str(config),
            XDG_DATA_HOME=str(root / "data"),
            BENCH_ROWS=str(args.rows),
            BENCH_SEARCH=oldest,
        )
        if args.first_only:
            env["BENCH_FIRST_ONLY"] = "1"
        anchor = [temporal_binary(), "workflow", "list", "--limit", "100", "-o", "json"]
        anchor += ["--address", address]
        timed(anchor)  # warm the page cache
        ours: list[dict[str, Any]] = []
        theirs: list[float] = []
        extra: list[dict[str, float]] = []
        before: list[dict[str, Any]] = []
        for _ in range(args.runs):
            ours.append(run_child(env))
            theirs.append(timed(anchor))
            if args.baseline:
                before.append(run_child(env, args.baseline))
                b = before[-1]
                print(f"  baseline: first row {b['first_row_s']:.3f} s, {summary(b)}", flush=True)
            extra.append({**server_times(http_address), **start_up_times()})
            r = ours[-1]
            steps = ", ".join(f"{k} {v:.3f}" for k, v in r["breakdown"].items())
            print(f"first row {r['first_row_s']:.3f} s, anchor {theirs[-1]:.3f} s: {steps}")
            print(f"  {summary(r)}", flush=True)
        breakdown(ours, extra)
        report(ours, theirs, args.rows)
        if before:
            print(f"--- baseline tree {args.baseline}, same rounds:")
            report(before, theirs, args.rows)
        if args.importtime:
            import_profile(env, args.importtime)


if __name__ == "__main__":
    main()
