"""Measure launch -> first rendered executions table of `opsdeck tui` (target < 1.5 s).

    .venv/bin/python bench/first_table_probe.py [--workflows 200] [--runs 5]

Starts a dev server in a temporary directory, starts N workflows (no worker, so they
stay running), writes a config, then launches `opsdeck tui` in a fresh interpreter each
run. The child runs the real CLI path (imports, config, session, engine) with the app
headless and a probe that prints the time once the first table has been painted; the
result is that time minus the moment just before the child was spawned.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import os, sys, time
from console.tui import app as tui_app

original_init = tui_app.OpsdeckApp.__init__
original_run = tui_app.OpsdeckApp.run

def init(self, *args, **kwargs):
    original_init(self, *args, **kwargs)
    def probe():
        print(f"FIRST_TABLE {time.time()} rows={self.screen.table.row_count}", flush=True)
        self.exit()
    self.on_first_table = probe

tui_app.OpsdeckApp.__init__ = init
tui_app.OpsdeckApp.run = lambda self, **kw: original_run(self, headless=True, size=(160, 50))
from console.cli import main
sys.exit(main(["tui"]))
"""


async def start_workflows(address: str, count: int) -> None:
    from temporalio.client import Client

    client = await Client.connect(address)
    for i in range(count):
        await client.start_workflow("ProbeWorkflow", id=f"probe-{i}", task_queue="probe-no-worker")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from console.sandbox.devserver import start_dev_server, stop_process

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = start_dev_server(root / "server")
        try:
            asyncio.run(start_workflows(server.address, args.workflows))
            config = root / "config.yaml"
            config.write_text(
                "current-context: probe\ncontexts:\n  probe:\n    engines:\n"
                f"      - kind: temporal\n        address: {server.address}\n"
                f"        http-address: {server.http_address}\n        namespace: default\n"
            )
            env = dict(os.environ, OPSDECK_CONFIG=str(config), XDG_DATA_HOME=str(root / "data"))
            times = []
            for _ in range(args.runs):
                start = time.time()
                out = subprocess.run(
                    [sys.executable, "-c", CHILD],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                line = next((x for x in out.stdout.splitlines() if x.startswith("FIRST_TABLE")), "")
                if not line:
                    raise SystemExit(f"no table: rc={out.returncode}\n{out.stdout}\n{out.stderr}")
                _, stamp, rows = line.split()
                times.append(float(stamp) - start)
                print(f"first table after {times[-1]:.3f} s ({rows})")
            print(f"median {statistics.median(times):.3f} s over {len(times)} runs")
        finally:
            stop_process(server.pid)


if __name__ == "__main__":
    main()
