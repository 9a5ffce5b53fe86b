"""Durable runbook runs: a Temporal workflow drives RunbookRunner one step at a time.

``types`` (plain dataclasses, what crosses the wire), ``workflow`` (deterministic, runs
in the SDK sandbox), ``activities`` (one step through the runner; the only place that
touches the journal, engines and audit on the worker), ``client`` (start, signal,
inspect a durable run from the CLI). Step semantics stay in console.runbook.runner.
"""
