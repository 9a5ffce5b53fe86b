"""The SLOs `opsdeck sandbox up` writes into the `sandbox` context, so `opsdeck slo
list`, the TUI's `:slo` and `versions ramp --slo` have something real to show: the
orders of deployment `orders` (v3's failures burn this budget) and the demo workflow
that completes. Written only when the context has no `slos:` yet (user edits stay).
"""

from __future__ import annotations

from typing import Any


def demo_slos() -> dict[str, dict[str, Any]]:
    return {
        "orders-success": {
            "workflow-type": "OrderWorkflow",
            "engine": "temporal",
            "success-rate": "99%",
            "window": "1d",
        },
        "demo-completion": {
            "workflow-type": "DemoCompleted",
            "engine": "temporal",
            "completion-time": {"p95": "30s"},
            "window": "1d",
        },
    }
