"""The drill's incident (console.incidents): opened at start, closed when it finishes.

``drill start`` opens the incident ``drill: NAME`` in context `sandbox` (the context
`opsdeck sandbox up` writes), so every change the trainee makes there is tagged with
it, and links a count snapshot. When the drill finishes (a passing check or ``stop``)
a note records the outcome and the checks, a second snapshot is linked, the incident
is closed and its review draft (``incident report``, Markdown and HTML) is written
beside the drill's own report. Incidents never stop a drill: when one cannot be
opened (e.g. another incident is already open in `sandbox`) the drill runs without and
says why in a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.drills.runner import DrillRun
    from console.sandbox import SandboxState

log = logging.getLogger(__name__)
CONTEXT = "sandbox"
SEVERITY = "sev3"


def _snapshot(incident_id: str, state: SandboxState, label: str) -> None:
    import asyncio

    from console.drills.temporal_ops import engine_for
    from console.incidents.counts import counts_summary, engine_counts
    from console.incidents.model import COUNTS
    from console.incidents.store import link

    async def counts() -> dict[str, dict[str, int | None]]:
        engine = engine_for(state)
        try:
            return await engine_counts({engine.name: engine})
        finally:
            await engine.close()

    values = asyncio.run(counts())
    link(incident_id, COUNTS, label, counts_summary(label, values), data={"counts": values})


def open_for(run: DrillRun, state: SandboxState) -> tuple[str | None, str | None]:
    """Open ``drill: NAME``; (its id, None) or (None, why not)."""
    from console.incidents.store import add_note, open_incident

    try:
        incident = open_incident(f"drill: {run.name}", SEVERITY, context=CONTEXT)
    except Exception as exc:
        log.warning("drill %s runs without an incident: %s", run.name, exc)
        return None, str(exc)
    try:
        add_note(incident.id, f"drill {run.token} injected: {run.drill.injects} (N = {run.count})")
        _snapshot(incident.id, state, "drill injected")
    except Exception as exc:  # the incident exists; a missing note is no reason to fail
        log.warning("incident %s: %s", incident.id, exc)
    return incident.id, None


def close_for(run: DrillRun, state: SandboxState | None, beside: Path) -> dict[str, str]:
    """Note the outcome, close, write the review draft; {"md": path, "html": path}
    (empty when the run has no incident or it cannot be written)."""
    if not run.incident:
        return {}
    from console.incidents.store import add_note, close_incident

    checks = "; ".join(f"{c.get('name')}: {c.get('detail')}" for c in run.checks)
    try:
        add_note(run.incident, f"drill {run.outcome} after {run.elapsed_s():.0f} s: {checks}")
        if state is not None:
            _snapshot(run.incident, state, f"drill {run.outcome}")
    except Exception as exc:
        log.warning("incident %s: %s", run.incident, exc)
    try:
        close_incident(run.incident, summary=f"drill {run.name} {run.outcome}")
        return write_review(run.incident, beside)
    except Exception as exc:
        log.warning("incident %s not closed or reported: %s", run.incident, exc)
        return {}


def _pii_fields() -> tuple[str, ...]:
    """The config's PII fields, masked in the review (none without a config)."""
    try:
        from console.config import load_config
        from console.stores.settings import config_path

        return tuple(load_config(config_path).pii_fields)
    except Exception:
        return ()


def write_review(incident_id: str, beside: Path) -> dict[str, str]:
    """`opsdeck incident report ID --format md|html`, written beside the drill report."""
    from console.incidents.render_html import render_html
    from console.incidents.render_md import render_markdown
    from console.incidents.report import build_report, configured_sources

    sources = configured_sources(_pii_fields())
    try:
        report: dict[str, Any] = build_report(incident_id, sources)
    finally:
        sources.close()
    paths = {}
    for fmt, text in (("md", render_markdown(report)), ("html", render_html(report))):
        path = beside.with_name(f"{beside.stem.removesuffix('-report')}-incident.{fmt}")
        path.write_text(text, encoding="utf-8")
        paths[fmt] = str(path)
    return paths
