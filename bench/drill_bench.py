"""What a drill's `check` costs against the commands an operator runs for the same
answer (issue 15), run by hand.

    python bench/drill_bench.py [--runs 5]

Brings up a sandbox in a temp home (`opsdeck sandbox up`), then per drill: starts it,
and alternates, whole process each, `opsdeck sandbox drill check -o json` with its
anchor, the plain opsdeck read(s) a trainee would run to see the same thing:

- stuck-activity-storm (N=5): `executions stuck --query Q --rules activity_retrying
  --activity-attempts 2` + `executions count --query Q --status running`;
- bad-deploy (N=3): `versions list orders`;
- poison-dlq (N=5): `dlq list` + `dlq peek opsdeck-demo.orders.dlq -n 50`.

Prints medians and the ratio check/anchor (pairwise per round), then stops each drill
and the sandbox.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPSDECK = str(Path(sys.executable).with_name("opsdeck"))
DLQ = "opsdeck-demo.orders.dlq"


def env_for(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPSDECK_CONFIG", None)
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(home / name.lower())
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPSDECK, *args], env=env, capture_output=True, text=True, timeout=300)


def timed(env: dict[str, str], commands: list[list[str]]) -> float:
    start = time.perf_counter()
    for command in commands:
        done = run(env, *command)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{command}: exit {done.returncode}: {done.stderr}")
    return time.perf_counter() - start


def anchors(name: str, injected: dict[str, object]) -> list[list[str]]:
    query = str(injected.get("query", ""))
    if name == "stuck-activity-storm":
        return [
            ["executions", "stuck", "--query", query, "--rules", "activity_retrying",
             "--activity-attempts", "2", "-o", "json"],
            ["executions", "count", "--query", query, "--status", "running", "-o", "json"],
        ]  # fmt: skip
    if name == "bad-deploy":
        return [["versions", "list", "orders", "-o", "json"]]
    return [["dlq", "list", "-o", "json"], ["dlq", "peek", DLQ, "-n", "50", "-o", "json"]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="drill-bench-"))
    env = env_for(home)
    up = run(env, "sandbox", "up")
    if up.returncode != 0:
        raise SystemExit(up.stderr)
    rows = []
    try:
        for name, count in (("stuck-activity-storm", 5), ("bad-deploy", 3), ("poison-dlq", 5)):
            started = run(
                env, "sandbox", "drill", "start", name, "--count", str(count), "-o", "json"
            )
            if started.returncode != 0:
                raise SystemExit(started.stderr)
            injected = json.loads(started.stdout)["injected"]
            check = [["sandbox", "drill", "check", "-o", "json"]]
            pairs = []
            for _ in range(args.runs):
                a = timed(env, anchors(name, injected))
                c = timed(env, check)
                pairs.append((a, c))
            run(env, "sandbox", "drill", "stop")
            anchor = statistics.median(a for a, _ in pairs)
            checked = statistics.median(c for _, c in pairs)
            ratio = statistics.median(c / a for a, c in pairs)
            rows.append((name, anchor, checked, ratio))
    finally:
        run(env, "sandbox", "drill", "stop")
        run(env, "sandbox", "down")
    load = os.getloadavg()[0]
    print(f"runs {args.runs}, load average {load:.1f}")
    print("| drill | anchor (median) | drill check (median) | ratio |")
    print("| --- | --- | --- | --- |")
    for name, anchor, checked, ratio in rows:
        print(f"| {name} | {anchor:.2f} s | {checked:.2f} s | {ratio:.2f} |")


if __name__ == "__main__":
    main()
