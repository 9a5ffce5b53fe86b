"""A hook for the crash tests only: hold a journal's transaction open before commit.

``OPSDECK_TEST_HOLD_COMMIT=JOURNAL:MARKER`` makes a writer of JOURNAL create MARKER
once its statements ran, then sleep before committing, so a test can SIGKILL it there
and check that nothing half-written remains. Unset (always, outside tests): no effect.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ENV = "OPSDECK_TEST_HOLD_COMMIT"


def hold_before_commit(journal: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    name, _, marker = spec.partition(":")
    if name != journal or not marker:
        return
    Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    time.sleep(120)  # the test kills us long before this ends
