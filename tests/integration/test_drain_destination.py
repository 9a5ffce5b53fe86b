"""A drain to a queue that does not exist stops at the plan; reports count what is left.

On the real broker (issue 9): `dlq drain --to nosuch.queue` used to start, archive,
audit, fail, and report "0 left in the DLQ" while every message was still there.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from console.actions.drain import DrainFilter, DrainSpec
from tests.integration.rabbit_fixtures import DeadLetterSetup, rabbit_fixture  # noqa: F401
from tests.integration.test_drain_rabbitmq import _drain, _opsdeck, _write_config


def _audit() -> list[dict[str, object]]:
    done = subprocess.run(_opsdeck("-o", "json", "audit", "list"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_drain_to_a_missing_queue_is_refused_by_the_plan(
    rabbit: DeadLetterSetup, tmp_path: Path
) -> None:
    _write_config(rabbit)
    rabbit.dead_letter(8)
    archive = tmp_path / "archive"
    for extra in (["--dry-run"], ["--yes"]):
        done = subprocess.run(
            _opsdeck(
                "dlq", "drain", rabbit.dlq, "--to", "nosuch.queue", "--archive-dir", str(archive),
                *extra,
            ),
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert done.returncode == 2, done.stdout + done.stderr
        assert (
            "drain plan refused" in done.stderr and "'nosuch.queue' does not exist" in done.stderr
        )
        assert "nothing changed" in done.stderr
    assert rabbit.depth(rabbit.dlq) == 8
    assert not archive.exists() or not any(archive.iterdir())
    assert _audit() == []
    drains = Path(os.environ["XDG_DATA_HOME"]) / "opsdeck" / "drains"
    assert not drains.exists() or not any(drains.iterdir())


def test_failed_run_reports_the_real_depth_and_writes_no_archive(
    rabbit: DeadLetterSetup, tmp_path: Path
) -> None:
    """Past the plan (the queue deleted in between), the run fails before archiving."""
    rabbit.dead_letter(8)
    spec = DrainSpec("rabbit", rabbit.dlq, destination="deleted.meanwhile", batch_size=3)
    _, report = _drain(rabbit, tmp_path, spec)
    assert report.error and "deleted.meanwhile" in report.error
    assert report.left_in_dlq == 8 and report.as_dict()["left_in_dlq"] == 8
    assert report.exit_code == 1
    assert not (tmp_path / "archive").exists() or not any((tmp_path / "archive").iterdir())


def test_selective_drain_reports_left_and_not_matching(
    rabbit: DeadLetterSetup, tmp_path: Path
) -> None:
    rabbit.dead_letter(20, reason_body=lambda i: {"n": i, "tier": "x" if i % 4 == 0 else "g"})
    spec = DrainSpec(
        "rabbit",
        rabbit.dlq,
        filter=DrainFilter(jsonpath="$.tier=x"),
        destination=rabbit.other,
        batch_size=6,
    )
    _, report = _drain(rabbit, tmp_path, spec)
    assert report.error is None and report.sent == 5
    data = report.as_dict()
    assert data["left_in_dlq"] == 15 == rabbit.depth(rabbit.dlq)
    assert data["not_matching"] == 15
