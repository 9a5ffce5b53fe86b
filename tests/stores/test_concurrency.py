"""Several processes appending to one audit chain at once, and a writer killed inside
its transaction, on both back ends: one chain, exact count, nothing half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from console.audit import AuditJournal
from tests.stores.conftest import Backend

WRITERS = 6
APPENDS = 40

APPENDER = """
import sys, time
from console.audit import AuditJournal
journal = AuditJournal()
count, tag, start_at = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
journal.count()  # opened before the race, which starts at the same moment for all
time.sleep(max(0.0, start_at - time.time()))
start = time.time()
for i in range(count):
    journal.append(context="prod", action="retry", engine="temporal",
                   target=f"temporal:default/{tag}-{i}", outcome="ok", request_id=tag)
print(start, time.time())
"""


def appenders(
    backend: Backend, count: int, tags: list[str], start_in: float = 4.0
) -> list[subprocess.Popen[str]]:
    start_at = str(time.time() + start_in)
    return [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(count), tag, start_at],
            env=backend.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in tags
    ]


def test_concurrent_appenders_make_one_chain(store_backend: Backend) -> None:
    AuditJournal().append(  # the store exists before the writers race to open it
        context="prod", action="retry", engine="temporal", target="t", outcome="ok"
    )
    tags = [f"w{n}" for n in range(WRITERS)]
    procs = appenders(store_backend, APPENDS, tags)
    spans = []  # each writer's append loop, wall clock (start-up excluded)
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        spans.append([float(x) for x in out.split()])
    journal = AuditJournal()
    result = journal.verify_detail()
    assert result.ok, result
    assert result.records == 1 + WRITERS * APPENDS
    for tag in tags:
        assert len(journal.list(None, request_id=tag)) == APPENDS
    ids = [r.id for r in journal.list(None)]
    assert ids == list(range(len(ids), 0, -1))  # no gap, no duplicate: no fork
    assert min(e for _, e in spans) > max(s for s, _ in spans)  # they really overlapped
    rate = WRITERS * APPENDS / (max(e for _, e in spans) - min(s for s, _ in spans))
    print(f"\n{store_backend.name}: {WRITERS}x{APPENDS} concurrent appends, {rate:.0f}/s")


def test_writer_killed_inside_its_transaction_leaves_nothing(
    store_backend: Backend, tmp_path: Path
) -> None:
    journal = AuditJournal()
    for i in range(3):
        journal.append(context="p", action="retry", engine="t", target=f"t{i}", outcome="ok")
    marker = tmp_path / "holding"
    env = store_backend.env() | {"OPSDECK_TEST_HOLD_COMMIT": f"audit:{marker}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", APPENDER, "1", "killed", "0"], env=env, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the writer never reached its commit"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # inserted, not committed
    proc.wait(timeout=10)
    # The next writer is not blocked by the dead one's lock, and the chain goes on.
    journal.append(context="p", action="retry", engine="t", target="after", outcome="ok")
    result = journal.verify_detail()
    assert result.ok and result.records == 4, result
    assert journal.list(None, request_id="killed") == []
    assert [r.target for r in journal.list(2)] == ["after", "t2"]


DRAIN_MARKER = """
import sys
from console.actions.drain_journal import DrainJournal
journal = DrainJournal.open("d1")
journal.mark([(f"k{i}#0", f"k{i}", "archived", "work", None) for i in range(50)])
"""


def test_drain_batch_killed_before_commit_leaves_no_row(
    store_backend: Backend, tmp_path: Path
) -> None:
    """A batch of 50 rows is one transaction: killed before its commit, none is there."""
    from console.actions.drain_journal import DrainJournal

    journal = DrainJournal.open("d1")
    journal.mark([("a#0", "a", "sent", "work", None)])
    marker = tmp_path / "holding"
    env = store_backend.env() | {"OPSDECK_TEST_HOLD_COMMIT": f"drains:{marker}"}
    proc = subprocess.Popen([sys.executable, "-c", DRAIN_MARKER], env=env)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert journal.counts() == {"sent": 1}
    journal.mark([("b#0", "b", "sent", "work", None)])  # the lock died with the writer
    assert journal.counts() == {"sent": 2}


def test_two_migrators_at_once(fresh_database: str) -> None:
    """Both succeed; each step is applied once (the second finds the work done)."""
    import json

    from console.stores.settings import ENV_URL

    exe = str(Path(sys.executable).parent / "opsdeck")
    env = dict(os.environ) | {ENV_URL: fresh_database}
    procs = [
        subprocess.Popen(
            [exe, "store", "migrate", "-o", "json"], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    applied: dict[str, list[int]] = {}
    for out in outputs:
        for row in out["journals"]:
            applied.setdefault(row["journal"], []).extend(row["applied"])
    assert applied == {"audit": [1, 2], "runbooks": [1], "approvals": [1], "chaos": [1, 2],
                       "drains": [1, 2], "incidents": [1]}  # fmt: skip
