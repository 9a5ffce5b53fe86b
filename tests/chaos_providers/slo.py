"""Stand-ins for chaos.probes' SLO probes (same signatures), read from files.

``$OPSDECK_TEST_SLO_DIR/<probe>`` holds the value (a number, or ``none``); without the
file a probe reports a healthy value. A method action can write the file (flag.write_flag)
to make the SLO deviate.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _value(name: str, healthy: float) -> float | None:
    path = Path(os.environ["OPSDECK_TEST_SLO_DIR"]) / name
    if not path.exists():
        return healthy
    text = path.read_text(encoding="utf-8").strip()
    return None if text == "none" else float(text)


def success_rate(
    workflow_type: str, window: str = "10m", engine: str | None = None, configuration: Any = None
) -> float | None:
    return _value("success_rate", 1.0)


def latency_p95(
    query: str | None = None,
    window: str = "5m",
    source: str | None = None,
    configuration: Any = None,
) -> float | None:
    return _value("latency_p95", 0.1)
