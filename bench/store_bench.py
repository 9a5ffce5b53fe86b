"""Store benchmark: audit appends on SQLite and PostgreSQL, one writer and several.

    .venv/bin/python bench/store_bench.py [--appends 1000] [--writers 6] [--per-writer 100]

Needs the local PostgreSQL (127.0.0.1:5432, trust auth; OPSDECK_TEST_POSTGRES names
another admin URL). Creates and drops its own database and a temporary SQLite dir.
Measures, per back end: appends/s with one writer in one process; appends/s with
WRITERS processes appending at once (time in their append loops, start-up excluded;
the chain is verified afterwards: one chain, exact count); verify time; and
``store copy`` of the SQLite history into an empty PostgreSQL store.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN = os.environ.get("OPSDECK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
APPENDER = """
import sys, time
from console.audit import AuditJournal
journal = AuditJournal()
journal.append(context="b", action="a", engine="e", target="warm-up", outcome="ok")
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all start at the same moment
start = time.time()
for i in range(int(sys.argv[1])):
    journal.append(context="b", action="a", engine="e", target=f"t{i}", outcome="ok")
print(start, time.time())
"""


def database(admin: object, name: str) -> str:
    admin.execute(f"CREATE DATABASE {name}")  # type: ignore[attr-defined]
    return f"{ADMIN.rpartition('/')[0]}/{name}"


def concurrent(env: dict[str, str], writers: int, per_writer: int) -> float:
    start_at = str(time.time() + 3)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(per_writer), start_at],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(writers)
    ]
    spans = [[float(x) for x in p.communicate()[0].split()] for p in procs]
    # From the first writer's first append to the last one's last: all were racing.
    return writers * per_writer / (max(e for _, e in spans) - min(s for s, _ in spans))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--writers", type=int, default=6)
    parser.add_argument("--per-writer", type=int, default=100)
    args = parser.parse_args()

    import psycopg

    from console.audit import AuditJournal
    from console.cli_store import migrate_all
    from console.stores.copy import copy_history
    from console.stores.postgres import close_pools
    from console.stores.settings import ENV_URL, StoreSettings, open_store

    admin = psycopg.connect(ADMIN, autocommit=True)
    names = [f"opsdeck_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_DATA_HOME"] = tmp
        os.environ["XDG_CONFIG_HOME"] = tmp
        try:
            urls = [database(admin, n) for n in names]
            settings = StoreSettings(urls[0])
            migrate_all(settings)
            for label, journal, env_url in (
                ("sqlite", AuditJournal(), None),
                ("postgresql", AuditJournal(store=open_store("audit", settings=settings)), urls[0]),
            ):
                journal.append(context="b", action="a", engine="e", target="w", outcome="ok")
                start = time.perf_counter()
                for i in range(args.appends):
                    journal.append(
                        context="b", action="a", engine="e", target=f"t{i}", outcome="ok"
                    )
                single = args.appends / (time.perf_counter() - start)
                env = {k: v for k, v in os.environ.items() if k != ENV_URL}
                if env_url:
                    env[ENV_URL] = env_url
                many = concurrent(env, args.writers, args.per_writer)
                start = time.perf_counter()
                result = journal.verify_detail()
                took = time.perf_counter() - start
                expected = 1 + args.appends + args.writers * (args.per_writer + 1)
                assert result.ok and result.records == expected, (result, expected)
                print(
                    f"{label}: {single:.0f} appends/s one writer; {many:.0f} appends/s with "
                    f"{args.writers} processes; verify {result.records} records in "
                    f"{took * 1000:.0f} ms (chain intact)"
                )
            target = StoreSettings(urls[1])
            migrate_all(target)
            start = time.perf_counter()
            report = copy_history(target)
            print(
                f"store copy: {report.audit_records} audit records (verified={report.audit_ok}) "
                f"in {time.perf_counter() - start:.2f} s"
            )
        finally:
            close_pools()
            for name in names:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
