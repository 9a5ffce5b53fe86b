"""Incidents: one record ties together what was seen and done while it was open.

``store`` keeps incidents, notes and links (audit records carry the incident id
themselves; runbook runs, chaos runs, correlation and count snapshots are links);
``counts`` records the engines' running/failed counts; ``report`` gathers everything
into a post-incident review draft, rendered by ``render_md`` and ``render_html``.
Nothing here imports textual. See docs/incidents.md.
"""
