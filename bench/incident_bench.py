"""What incident mode costs (issue 15), run by hand.

    python bench/incident_bench.py [--appends 2000] [--records 1000] [--runs 3]

1. Audit appends, whole process (a fresh interpreter appends ``--appends`` records to
   a fresh SQLite journal), alternating: no incident store (the anchor: the lookup
   finds no file and stops), an open incident (every record tagged; the lookup is
   reused for 2 s), and an open incident with that reuse off (a lookup per record).
2. The review of an incident with ``--records`` tagged audit records, whole process,
   alternating: the anchor `opsdeck audit list --limit N -o json` (the same records
   read and printed), `incident report --format md` and `--format html`.

Prints medians and each mode's ratio to its anchor (pairwise, same run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
OPSDECK = str(Path(PY).with_name("opsdeck"))

APPEND = """
import sys
from console import audit
from console.audit import AuditJournal
from console.incidents.store import open_incident
mode, n = sys.argv[1], int(sys.argv[2])
if mode != "none":
    open_incident("bench", context="prod", identity="bench")
if mode == "no-reuse":
    audit._TAG_TTL = 0.0
journal = AuditJournal()
for i in range(n):
    journal.append(context="prod", action="terminate", engine="temporal",
                   target=f"temporal:default/wf-{i}", outcome="ok", parameters={"i": i})
assert (journal.list(1)[0].incident is None) == (mode == "none")
journal.close()
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed: {done.stderr[-2000:]}")
    return elapsed


def fresh_env(root: Path, name: str) -> dict[str, str]:
    data = root / name
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, XDG_DATA_HOME=str(data), XDG_CONFIG_HOME=str(root / "cfg"))
    env.pop("OPSDECK_STORE_URL", None)
    env.pop("OPSDECK_INCIDENT", None)
    return env


def bench_appends(root: Path, appends: int, runs: int) -> None:
    modes = ("none", "tagged", "no-reuse")
    times: dict[str, list[float]] = {m: [] for m in modes}
    for run in range(runs):
        for mode in modes:
            env = fresh_env(root, f"append-{mode}-{run}")
            times[mode].append(timed([PY, "-c", APPEND, mode, str(appends)], env))
    anchor = statistics.median(times["none"])
    print(f"\n{appends} audit appends, whole process, median of {runs}:")
    for mode in modes:
        ratios = [t / a for t, a in zip(times[mode], times["none"], strict=True)]
        print(
            f"  {mode:<9} {statistics.median(times[mode]):6.2f} s  "
            f"ratio {statistics.median(ratios):.2f}  (anchor none {anchor:.2f} s)"
        )


def bench_report(root: Path, records: int, runs: int) -> None:
    env = fresh_env(root, "report")
    config = root / "cfg" / "opsdeck" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("current-context: prod\ncontexts:\n  prod:\n    engines: []\n")
    env["OPSDECK_CONFIG"] = str(config)
    setup = APPEND.replace('open_incident("bench"', 'open_incident("bench report"')
    timed([PY, "-c", setup, "tagged", str(records)], env)
    listed = subprocess.run(
        [OPSDECK, "incident", "list", "-o", "json"], env=env, capture_output=True, text=True
    )
    incident = listed.stdout.split('"id": "')[1].split('"')[0]
    commands = {
        "audit list": [OPSDECK, "audit", "list", "--limit", str(records), "-o", "json"],
        "report md": [OPSDECK, "incident", "report", incident, "--format", "md"],
        "report html": [OPSDECK, "incident", "report", incident, "--format", "html"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            times[name].append(timed(cmd, env))
    anchor = times["audit list"]
    print(f"\nreview of an incident with {records} tagged changes, whole process:")
    for name in commands:
        ratios = [t / a for t, a in zip(times[name], anchor, strict=True)]
        print(
            f"  {name:<12} {statistics.median(times[name]):6.2f} s  "
            f"ratio {statistics.median(ratios):.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="incident-bench-") as tmp:
        bench_appends(Path(tmp), args.appends, args.runs)
        bench_report(Path(tmp), args.records, args.runs)
    print(f"\nload average: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
