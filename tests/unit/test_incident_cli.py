"""`opsdeck incident ...` in-process over a context without engines: verbs, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from console.incidents import store as incidents


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "current-context: lab\nidentity: alice@example.com\npii-fields: [email]\n"
        "contexts:\n  lab:\n    engines: []\n  other:\n    engines: []\n"
    )
    monkeypatch.setenv("OPSDECK_CONFIG", str(path))
    monkeypatch.delenv(incidents.ENV, raising=False)
    incidents.use_incident(None)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    try:
        data = json.loads(out.out) if out.out.strip() else None
    except ValueError:
        data = out.out
    return code, data, out.err


def test_the_verbs_and_their_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, started, err = run(capsys, "incident", "start", "DB down", "--severity", "sev1",
                             "-o", "json")  # fmt: skip
    assert code == 0, err
    assert started["severity"] == "sev1" and started["opened_by"] == "alice@example.com"
    assert started["counts"] == {}  # no engines in this context
    assert run(capsys, "incident", "start", "again")[0] == 2
    assert run(capsys, "incident", "start", "x", "--severity", "p1")[0] == 2
    assert run(capsys, "-c", "other", "incident", "note", "x")[0] == 2  # none open there
    code, note, _ = run(capsys, "incident", "note", "caller", "email=bob@example.com", "-o",
                        "json")  # fmt: skip
    assert code == 0 and note["text"] == "caller email=***"  # masked before it is stored
    code, listed, _ = run(capsys, "incident", "list", "-o", "json")
    assert [i["id"] for i in listed] == [started["id"]]
    code, shown, _ = run(capsys, "incident", "show", "-o", "json")
    assert shown["id"] == started["id"] and [n["text"] for n in shown["notes"]] == [
        "caller email=***"
    ]
    assert run(capsys, "incident", "show", "INC-19990101-1")[0] == 2
    code, closed, _ = run(capsys, "incident", "close", "--summary", "restarted", "-o", "json")
    assert code == 0 and closed["status"] == "closed" and closed["summary"] == "restarted"
    assert run(capsys, "incident", "close", started["id"])[0] == 2  # already closed
    code, report, _ = run(capsys, "incident", "report", started["id"], "--format", "json")
    assert code == 0
    assert [e["kind"] for e in report["timeline"]] == ["opened", "counts", "note", "counts",
                                                        "closed"]  # fmt: skip
    code, md, _ = run(capsys, "incident", "report", started["id"])
    assert code == 0 and md.startswith(f"# {started['id']}: DB down")


def test_incident_option_holds_for_one_command_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = incidents.open_incident("other ctx", context="other", identity="bob")
    assert run(capsys, "--incident", other.id, "incident", "note", "from lab")[0] == 0
    assert run(capsys, "incident", "note", "again")[0] == 2  # lab has none: not left over
    assert run(capsys, "--incident", "INC-19990101-1", "incident", "list")[0] == 2
    _, shown, _ = run(capsys, "incident", "show", other.id, "-o", "json")
    assert [n["text"] for n in shown["notes"]] == ["from lab"]
