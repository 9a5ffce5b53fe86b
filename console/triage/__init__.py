"""Failure triage: transient or systemic (issue 14). No textual; ports only.

``triage_failures(engine, query=..., since=...)`` (console.triage.check) collects the
failures of one engine since a time, groups them by signature (console.triage.groups)
and judges each group; docs/triage.md has the rules and their defaults.
"""
