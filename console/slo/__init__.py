"""Service-level objectives: evaluation from visibility and metrics (issue 14)."""
