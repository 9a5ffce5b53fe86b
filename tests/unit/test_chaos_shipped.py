"""The shipped experiments (chaos/experiments) pass `opsdeck chaos validate`, which
checks each chaos.* provider's arguments against its signature and each action's
rollback (chaos.actions.ROLLBACKS)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chaos import actions

SHIPPED = sorted((Path(__file__).resolve().parents[2] / "chaos" / "experiments").glob("*.yaml"))


def test_shipped_experiments_validate() -> None:
    assert len(SHIPPED) >= 2
    opsdeck = Path(sys.executable).parent / "opsdeck"
    done = subprocess.run(
        [str(opsdeck), "chaos", "validate", *map(str, SHIPPED)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_action_names_an_existing_rollback() -> None:
    for action, rollback in actions.ROLLBACKS.items():
        assert callable(getattr(actions, action)) and callable(getattr(actions, rollback))
    assert set(actions.__all__) == {"ROLLBACKS", *actions.ROLLBACKS, *actions.ROLLBACKS.values()}
