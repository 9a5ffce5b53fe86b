"""`versions ramp` against the same calls by the temporal CLI (issue 14), run by hand.

    python bench/ramp_bench.py [--runs 5] [--steps 10,50,100]

Own dev server and sandbox demo workers (deployment ``orders``: v1, v2). Each run
starts from v1 current and nothing ramping (reset through the SDK, not timed), then,
alternating, whole process each:

- anchor: the temporal CLI's calls for the same steps, one process per call
  (``worker deployment set-ramping-version`` per step below 100, then
  ``set-current-version``), i.e. a ramp by hand without plan, guard or journal;
- opsdeck: ``versions ramp orders v2 --steps S --hold 0s -y -o json``: the plan, the
  policy, a journal record per step and check, and the guard after every step (failed
  executions of v2 counted three ways, triage of v2's failures).

Prints the medians and the pairwise ratio opsdeck / temporal CLI.
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

from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client

from console.sandbox import start_workers, wait_ready
from console.sandbox.devserver import start_dev_server, stop_process, temporal_binary

BIN = Path(sys.executable).parent


async def reset(address: str) -> None:
    client = await Client.connect(address, namespace="default")
    service = client.workflow_service

    async def describe() -> tuple[bytes, str, str]:
        resp = await service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace="default", deployment_name="orders")
        )
        r = resp.worker_deployment_info.routing_config
        return (bytes(resp.conflict_token), r.current_deployment_version.build_id,
                r.ramping_deployment_version.build_id)  # fmt: skip

    token, current, ramping = await describe()
    if ramping:
        await service.set_worker_deployment_ramping_version(
            SetWorkerDeploymentRampingVersionRequest(namespace="default",
                deployment_name="orders", build_id="", percentage=0, conflict_token=token)
        )  # fmt: skip
        token, current, _ = await describe()
    if current != "v1":
        await service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(namespace="default",
                deployment_name="orders", build_id="v1", conflict_token=token)
        )  # fmt: skip


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{args[:4]} failed ({done.returncode}): {done.stderr[-800:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", default="10,50,100")
    args = parser.parse_args()
    percentages = [float(p) for p in args.steps.split(",")]
    work = Path(tempfile.mkdtemp(prefix="ramp-bench-"))
    server = start_dev_server(work / "server")
    workers = start_workers(server.address, "default", work / "workers.log",
                            work / "workers.ready")  # fmt: skip
    try:
        wait_ready(workers, work / "workers.ready", work / "workers.log", timeout=120)
        config = work / "config.yaml"
        config.write_text(
            "current-context: b\ncontexts:\n  b:\n    engines:\n      - kind: temporal\n"
            f"        address: {server.address}\n        http-address: {server.http_address}\n"
            "        namespace: default\n"
        )
        env = dict(os.environ, OPSDECK_CONFIG=str(config), XDG_DATA_HOME=str(work / "data"))
        temporal = temporal_binary()
        common = ["--address", server.address, "--namespace", "default",
                  "--deployment-name", "orders", "--build-id", "v2"]  # fmt: skip
        by_hand = [
            [temporal, "worker", "deployment", "set-ramping-version", *common,
             "--percentage", f"{p:g}", "--yes"]
            if p < 100 else
            [temporal, "worker", "deployment", "set-current-version", *common, "--yes"]
            for p in percentages
        ]  # fmt: skip
        ramp = [str(BIN / "opsdeck"), "versions", "ramp", "orders", "v2", "--steps",
                args.steps, "--hold", "0s", "-y", "-o", "json"]  # fmt: skip
        anchor_times, ramp_times = [], []
        for _ in range(args.runs):
            asyncio.run(reset(server.address))
            anchor_times.append(sum(timed(call, env) for call in by_hand))
            asyncio.run(reset(server.address))
            ramp_times.append(timed(ramp, env))
        ratios = [r / a for r, a in zip(ramp_times, anchor_times, strict=True)]
        print(f"load average: {os.getloadavg()}")
        print(f"temporal CLI, {len(by_hand)} calls: median {statistics.median(anchor_times):.3f} s"
              f"  {[round(t, 3) for t in anchor_times]}")  # fmt: skip
        print(f"opsdeck versions ramp: median {statistics.median(ramp_times):.3f} s"
              f"  {[round(t, 3) for t in ramp_times]}")  # fmt: skip
        print(f"ratio opsdeck / temporal CLI (pairwise median): {statistics.median(ratios):.2f}")
    finally:
        stop_process(workers)
        stop_process(server.pid)


if __name__ == "__main__":
    main()
