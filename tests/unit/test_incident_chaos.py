"""A chaos run while an incident is open: the run is linked, its actions' records tagged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.audit import AuditJournal
from console.cli import main
from console.incidents import store as incidents

from .chaos_fixtures import experiment, write_config, write_yaml


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(incidents.ENV, raising=False)
    incidents.use_incident(None)


def test_chaos_run_is_linked_and_its_actions_audited_under_the_incident(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path, monkeypatch)  # context "dev"
    incident = incidents.open_incident("flag flips", context="dev", identity="alice")
    data = experiment(tmp_path / "flag")
    data["method"][0]["provider"]["arguments"]["text"] = "off"
    path = str(write_yaml(tmp_path / "exp.yaml", data))
    code = main(["chaos", "run", path, "--yes", "-o", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    run_id = json.loads(captured.out)["run"]["id"]
    assert f"linked to incident {incident.id}" in captured.err
    store = incidents.IncidentStore()
    try:
        (link,) = store.links(incident.id, "chaos_run")
    finally:
        store.close()
    assert link.ref == run_id and "flag flip" in link.summary
    audit = AuditJournal()
    try:
        records = audit.list(None, run_id=run_id)
    finally:
        audit.close()
    assert records and {r.incident for r in records} == {incident.id}
