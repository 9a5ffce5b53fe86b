"""CLI argument handling and the change flow, in-process against a stub engine."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import cli, cli_common, registry
from console.audit import AuditJournal

from .stub_engine import StubEngine

CONFIG = """\
current-context: dev
identity: alice@example.com
pii-fields: [email]
contexts:
  dev:
    engines:
      - kind: stub
        address: stub:1
        namespace: default
  prod:
    production: true
    engines:
      - kind: stub
        address: stub:1
  locked:
    read-only: true
    engines:
      - kind: stub
        address: stub:1
  two:
    engines:
      - {name: a, kind: stub, address: stub:1}
      - {name: b, kind: stub, address: stub:1}
  down:
    engines:
      - kind: stub
        address: unreachable:1
"""

ENGINES: list[StubEngine] = []


class RecordingStub(StubEngine):
    @classmethod
    def from_config(cls, name, settings, resolve_secret):  # type: ignore[no-untyped-def]
        engine = super().from_config(name, settings, resolve_secret)
        ENGINES.append(engine)
        return engine


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("OPSDECK_CONFIG", str(path))
    registry.register("stub", RecordingStub)
    ENGINES.clear()
    yield path
    registry.unregister("stub")


def opsdeck(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_takes_the_fast_path() -> None:
    """`opsdeck --version` imports no verb, config or backend module (its time is in
    bench/RESULTS.md; a timed assertion here only measured how busy CI was)."""
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            str(Path(sys.executable).parent / "opsdeck"),
            "--version",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("opsdeck ")
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "console.cli" in imported  # the listing is real
    heavy = sorted(
        m
        for m in imported
        if m.split(".")[0] in ("yaml", "asyncio", "temporalio", "textual", "sqlite3", "keyring")
        or m.startswith(("console.cli_", "console.config", "adapters"))
    )
    assert heavy == [], heavy


def test_cli_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, console.cli; heavy = [m for m in ('yaml', 'asyncio', 'temporalio', 'textual',"
        " 'sqlite3', 'keyring') if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_list_json_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = opsdeck(capsys, "executions", "list", "-o", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["workflow_id"] for r in rows] == ["wf-0", "wf-1", "wf-2", "wf-3"]
    assert rows[0]["ref"] == "stub:default/wf-0/run-0"
    code, out, _ = opsdeck(capsys, "-o", "yaml", "executions", "list", "--status", "running")
    assert code == 0 and "wf-1" not in out and "wf-0" in out
    code, out, _ = opsdeck(capsys, "executions", "list", "--limit", "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["WORKFLOW", "ID", "TYPE"] and len(lines) == 2


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["executions", "list", "--limit", "x"])
    assert info.value.code == 2
    code, _, err = opsdeck(capsys, "executions", "list", "--status", "sleeping")
    assert code == 2 and "unknown status 'sleeping'" in err
    code, _, err = opsdeck(capsys, "executions", "list", "--since", "yesterday")
    assert code == 2 and err.startswith("opsdeck: Usage error:")
    code, _, err = opsdeck(capsys, "executions", "terminate")
    assert code == 2 and "give one or more REFs or --query" in err


def test_unknown_context_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = opsdeck(capsys, "--context", "qa", "executions", "list")
    assert code == 2
    assert err.count("\n") == 1
    assert "unknown context 'qa'; known contexts: dev, down, locked, prod, two" in err


def test_malformed_config_exit_2(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    config.write_text("contexts:\n  dev:\n    engines:\n      - address: x\n")
    code, _, err = opsdeck(capsys, "executions", "list")
    assert code == 2
    assert err == (
        f"opsdeck: Configuration error: {config}:4: contexts.dev.engines[0].kind: required\n"
    )


def test_unreachable_is_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = opsdeck(capsys, "-c", "down", "executions", "list")
    assert code == 1
    assert err.startswith("opsdeck: Backend unreachable: stub at unreachable:1 is unreachable")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_describe_bare_id_and_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = opsdeck(capsys, "executions", "describe", "wf-0", "-o", "json")
    assert code == 0 and json.loads(out)["workflow_id"] == "wf-0"
    code, out, _ = opsdeck(capsys, "executions", "describe", "stub:default/wf-1")
    assert code == 0 and "Status:" in out and "completed" in out
    code, _, err = opsdeck(capsys, "executions", "describe", "nope")
    assert code == 1 and err == "opsdeck: Not found: execution stub:default/nope not found\n"
    code, _, err = opsdeck(capsys, "-c", "two", "executions", "describe", "wf-0")
    assert code == 2 and "'wf-0' is in several engines: a:default/wf-0, b:default/wf-0" in err
    code, _, err = opsdeck(capsys, "executions", "describe", "other:default/wf-0")
    assert code == 2 and err == "opsdeck: Usage error: unknown engine other (known: stub)\n"
    code, out, _ = opsdeck(capsys, "executions", "describe", "order:42")  # ':' in a bare id
    assert code == 1


def test_history_and_stuck(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = opsdeck(capsys, "executions", "history", "wf-0", "--failed-only")
    assert code == 0 and "ActivityTaskFailed" in out and "WorkflowExecutionStarted" not in out
    code, out, _ = opsdeck(capsys, "ex", "stuck", "--activity-attempts", "6", "-o", "json")
    (hit,) = json.loads(out)
    assert hit["rule"] == "activity_retrying" and "attempt 7 >= 6" in hit["evidence"]
    code, out, _ = opsdeck(capsys, "ex", "stuck", "--rules", "no_pollers")
    assert code == 0 and out == "Nothing stuck.\n"
    code, _, _err = opsdeck(capsys, "ex", "stuck", "--rules", "slow")
    assert code == 2


def test_dry_run_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = opsdeck(capsys, "executions", "terminate", "wf-0", "--dry-run")
    assert code == 0
    assert "Plan: terminate 1 target(s)" in out and "stub:default/wf-0" in out
    assert "Dry run: nothing changed." in out
    assert ENGINES[-1].applied == []
    code, out, _ = opsdeck(capsys, "-o", "json", "ex", "cancel", "wf-0", "wf-2", "--dry-run")
    data = json.loads(out)
    assert data["dry_run"] is True
    assert data["plan"]["targets"] == ["stub:default/wf-0", "stub:default/wf-2"]
    assert AuditJournal().list() == []


def test_no_tty_no_yes_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = opsdeck(capsys, "executions", "terminate", "wf-0")
    assert code == 2 and "no terminal to ask on" in err and "--yes" in err
    assert ENGINES[-1].applied == []


def test_yes_applies_and_audits(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = opsdeck(capsys, "ex", "terminate", "wf-0", "--yes", "--reason", "stuck")
    assert code == 0
    assert "OK        stub:default/wf-0" in out and "1 done, 0 skipped, 0 failed" in out
    request_id = out.split("Applying (request id ")[1].split(")")[0]
    assert f"request id {request_id} (audit:" in out
    assert [a[0] for a in ENGINES[-1].applied] == ["stub:default/wf-0"]
    (record,) = AuditJournal().list()
    assert (record.action, record.target, record.reason) == (
        "terminate",
        "stub:default/wf-0",
        "stuck",
    )
    code, out, _ = opsdeck(capsys, "-o", "json", "audit", "list")
    assert json.loads(out)[0]["target"] == "stub:default/wf-0"
    code, out, _ = opsdeck(capsys, "audit", "verify")
    assert code == 0 and "1 record(s) verified" in out
    code, out, _ = opsdeck(capsys, "audit", "export", "--format", "jsonl")
    assert json.loads(out.splitlines()[0])["id"] == 1
    code, out, _ = opsdeck(capsys, "audit", "show", "1", "-o", "json")
    assert json.loads(out)["outcome"] == "ok"
    code, _, err = opsdeck(capsys, "audit", "show", "7")
    assert code == 1 and "no audit record 7" in err


def test_query_targets_and_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = opsdeck(capsys, "-o", "json", "ex", "cancel", "--query", "x", "--yes")
    assert code == 0
    data = json.loads(out)
    assert len(data["plan"]["targets"]) == 4
    assert data["report"]["exit_code"] == 0
    assert [o["outcome"] for o in data["report"]["outcomes"]] == ["ok"] * 4
    assert len(data["report"]["audit_ids"]) == 4


def test_partial_failure_exit_4(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    original = RecordingStub.from_config.__func__  # type: ignore[attr-defined]

    def failing(cls, name, settings, resolve_secret):  # type: ignore[no-untyped-def]
        engine = original(cls, name, settings, resolve_secret)
        engine.fail_targets = {"stub:default/wf-2"}
        return engine

    monkeypatch.setattr(RecordingStub, "from_config", classmethod(failing))
    code, out, _ = opsdeck(capsys, "ex", "retry", "wf-0", "wf-2", "--yes")
    assert code == 4 and "FAILED    stub:default/wf-2" in out
    code, out, _ = opsdeck(capsys, "ex", "retry", "wf-2", "--yes")
    assert code == 1


def test_read_only_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = opsdeck(capsys, "-c", "locked", "ex", "terminate", "wf-0", "--yes")
    assert code == 3 and "read-only" in err
    code, _, err = opsdeck(capsys, "ex", "terminate", "wf-0", "--yes", "--read-only")
    assert code == 3 and "read-only" in err
    code, _out, _ = opsdeck(capsys, "--read-only", "ex", "list")  # reading is fine
    assert code == 0


def test_production_phrase(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, _, err = opsdeck(capsys, "-c", "prod", "ex", "terminate", "wf-0", "--yes")
    assert code == 3 and "--confirm 'wf-0'" in err
    code, _, err = opsdeck(
        capsys, "-c", "prod", "ex", "terminate", "wf-0", "--yes", "--confirm", "x"
    )
    assert code == 1 and "does not match" in err
    assert AuditJournal().list() == []
    code, _, _ = opsdeck(
        capsys, "-c", "prod", "ex", "terminate", "wf-0", "--yes", "--confirm", "wf-0"
    )
    assert code == 0
    # on a terminal: y/N, then the phrase typed
    monkeypatch.setattr(cli_common, "_stdin_is_tty", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\nwf-2\n"))
    code, _out, err = opsdeck(capsys, "-c", "prod", "ex", "cancel", "wf-2")
    assert code == 0 and "Apply this plan? [y/N]" in err and "type 'wf-2'" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    code, _, err = opsdeck(capsys, "ex", "cancel", "wf-2")
    assert code == 1 and "not confirmed; nothing changed" in err


def test_signal_input_is_json_and_masked(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = opsdeck(capsys, "ex", "signal", "wf-0", "update", "--input", "{bad", "--yes")
    assert code == 2 and "--input is not valid JSON" in err
    payload = '{"email": "bob@example.com", "qty": 2}'
    code, out, _ = opsdeck(
        capsys, "ex", "signal", "wf-0", "update", "--input", payload, "--dry-run"
    )
    assert "bob@example.com" not in out and "***" in out
    code, out, _ = opsdeck(capsys, "ex", "signal", "wf-0", "update", "--input", payload, "--yes")
    assert code == 0
    (record,) = AuditJournal().list()
    assert record.parameters["input"] == {"email": "***", "qty": 2}


def test_versions_and_rollback(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = opsdeck(capsys, "versions", "list", "orders")
    assert code == 0 and "current" in out and "v2" in out
    code, _, err = opsdeck(capsys, "versions", "rollback", "orders", "--to", "v1", "--yes")
    assert code == 2 and "cannot roll back" in err


def test_context_verbs(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, _ = opsdeck(capsys, "context", "list")
    assert code == 0 and out.splitlines()[1].startswith("*  dev")
    code, out, _ = opsdeck(capsys, "context", "current")
    assert out == "dev\n"
    code, _, _ = opsdeck(capsys, "context", "use", "prod")
    assert code == 0 and "current-context: prod" in config.read_text()
    code, _, err = opsdeck(capsys, "context", "use", "qa")
    assert code == 2 and "known contexts:" in err
    code, out, _ = opsdeck(capsys, "context", "list", "-o", "json")
    assert [c["name"] for c in json.loads(out) if c["current"]] == ["prod"]


def test_secret_set_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from console import secrets

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv(secrets.PASSWORD_ENV, "pw")
    secrets.reset_backend()
    monkeypatch.setattr(sys, "stdin", io.StringIO("v4lue\n"))
    try:
        code, out, _ = opsdeck(capsys, "secret", "set", "cloud", "--stdin")
        assert code == 0 and "keyring:opsdeck/cloud" in out
        secrets.reset_backend()
        assert secrets.resolve_secret("keyring:opsdeck/cloud") == "v4lue"
    finally:
        secrets.reset_backend()
    code, _, err = opsdeck(capsys, "secret", "set", "cloud")
    assert code == 2 and "--stdin" in err


def test_global_options_after_verb(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = opsdeck(capsys, "executions", "list", "-c", "dev", "-o", "json", "--limit", "2")
    assert code == 0 and len(json.loads(out)) == 2
    code, out, _ = opsdeck(capsys, "-o", "json", "executions", "list", "--limit", "2")
    assert code == 0 and len(json.loads(out)) == 2


def test_confirm_or_abort_refuses_what_it_cannot_ask_and_checks_the_typed_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one confirmation of `dlq drain` and `versions ramp`: nothing is assumed."""
    from types import SimpleNamespace
    from typing import Any

    from console.cli_common import confirm_or_abort
    from console.errors import Aborted, PolicyDenied, UsageError

    monkeypatch.setattr("console.cli_common._stdin_is_tty", lambda: False)

    def confirm(production: bool, **flags: Any) -> None:
        session: Any = SimpleNamespace(context=SimpleNamespace(name="prod", production=production))
        args = SimpleNamespace(**({"yes": False, "confirm": None} | flags))
        confirm_or_abort(session, args, question="Drain?", verb="drain", target="orders.dlq")

    with pytest.raises(UsageError, match="not draining without confirmation"):
        confirm(False)
    confirm(False, yes=True)  # a non-production context: --yes is enough
    with pytest.raises(PolicyDenied, match="confirmation text required") as denied:
        confirm(True, yes=True)
    assert "--confirm 'orders.dlq'" in str(denied.value.hint)
    with pytest.raises(Aborted, match="does not match"):
        confirm(True, yes=True, confirm="orders")
    confirm(True, yes=True, confirm="orders.dlq")
