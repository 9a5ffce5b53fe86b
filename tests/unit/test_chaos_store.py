"""The chaos run store: runs, interrupted detection, rollbacks claimed exactly once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from console.errors import NotFound
from console.experiments.store import ChaosRunStore


def store(tmp_path: Path) -> ChaosRunStore:
    return ChaosRunStore(tmp_path / "chaos.db")


def create(s: ChaosRunStore, title: str = "flag flip") -> str:
    row = s.create(
        experiment_path="exp.yaml",
        source="title: x\n",
        title=title,
        context="dev",
        config="/c.yaml",
        dry_run=False,
    )
    return row.id


def dead_owner() -> str:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return f"{socket.gethostname()}:{done.stdout.strip()}"


def test_a_run_is_stored_with_its_text_and_journal_path(tmp_path: Path) -> None:
    s = store(tmp_path)
    run_id = create(s)
    row = s.get(run_id)
    assert (row.status, row.source, row.title, row.context) == (
        "running",
        "title: x\n",
        "flag flip",
        "dev",
    )
    assert row.journal_path == str(tmp_path / "chaos" / run_id / "journal.json")
    s.finish(run_id, "completed", deviated=True)
    row = s.get(run_id)
    assert row.status == "completed" and row.deviated and row.ended
    assert [r.id for r in s.runs()] == [run_id]
    with pytest.raises(NotFound, match="no chaos run 'nope'"):
        s.get("nope")
    with pytest.raises(ValueError):
        s.finish(run_id, "bogus")


def test_a_running_run_whose_process_died_reads_interrupted(tmp_path: Path) -> None:
    s = store(tmp_path)
    run_id = create(s)
    s._exec("UPDATE runs SET owner = ? WHERE id = ?", (dead_owner(), run_id))
    assert s.get(run_id).status == "interrupted"
    assert s.runs()[0].status == "interrupted"
    assert s._exec("SELECT status FROM runs")[0]["status"] == "interrupted"


def test_rollbacks_are_claimed_once_and_a_dead_claim_is_taken_over(tmp_path: Path) -> None:
    s = store(tmp_path)
    run_id = create(s)
    assert s.claim_rollback(run_id, 0, "remove-flag")
    assert not s.claim_rollback(run_id, 0, "remove-flag")  # this process still runs it
    s.rollback_done(run_id, 0)
    assert not s.claim_rollback(run_id, 0, "remove-flag")
    assert s.rollbacks(run_id)[0]["status"] == "done"
    assert s.claim_rollback(run_id, 1, "other")
    s.rollback_done(run_id, 1, "failed")
    assert s.claim_rollback(run_id, 1, "other")  # a failed rollback may run again
    s._exec("UPDATE rollbacks SET owner = ? WHERE idx = 1", (dead_owner(),))
    assert s.rollbacks(run_id)[1]["status"] == "interrupted"
    assert s.claim_rollback(run_id, 1, "other")


def test_the_store_lives_under_xdg_data_home(tmp_path: Path) -> None:
    assert ChaosRunStore().path == Path(os.environ["XDG_DATA_HOME"]) / "opsdeck" / "chaos.db"
