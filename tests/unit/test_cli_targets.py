"""Several engines in one context: bare ids, deployments, --query and list merging.

In-process against stub engines (the port stubbed; the real engines are in
tests/integration/test_cli_two_engines.py).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from console import cli, registry
from console.errors import NotFound, UsageError
from console.model import Capability, Execution, ListQuery, Version

from .stub_engine import T0, StubEngine

CONFIG = """\
current-context: split
contexts:
  split:
    engines:
      - {name: a, kind: split-stub, address: stub:1, ids: [wf-0, wf-1], deployments: [orders]}
      - {name: b, kind: split-stub, address: stub:1, ids: [wf-1, wf-2], minutes: 10,
         deployments: [billing, shared], versions: [v1, v2, v3], rejects-query: true}
  both-deploy:
    engines:
      - {name: a, kind: split-stub, address: stub:1, deployments: [orders]}
      - {name: b, kind: split-stub, address: stub:1, deployments: [orders]}
"""


class SplitStub(StubEngine):
    """A stub holding only ``ids``, started ``minutes`` after T0, knowing ``deployments``."""

    kind = "split-stub"

    @classmethod
    def from_config(cls, name: str, settings: dict[str, Any], resolve_secret: Any) -> SplitStub:
        engine = cls(name, settings)
        engine.capabilities = frozenset(Capability)
        ids = settings.get("ids")
        shift = int(settings.get("minutes", 0))
        engine.executions = {
            key: dataclasses.replace(e, start_time=T0 + timedelta(minutes=shift + i))
            for i, (key, e) in enumerate(engine.executions.items())
            if ids is None or key in ids
        }
        return engine

    async def list(self, query: ListQuery) -> AsyncIterator[Execution]:  # type: ignore[override]
        if query.raw and self.settings.get("rejects-query"):
            raise UsageError(f"{query.raw!r} is not {self.name}'s query syntax")
        newest = sorted(self.executions.values(), key=lambda e: e.start_time, reverse=True)  # type: ignore[arg-type,return-value]
        for count, execution in enumerate(newest):
            if query.statuses and execution.status not in query.statuses:
                continue
            if query.limit is not None and count >= query.limit:
                return
            yield execution

    async def versions(self, workflow: str) -> Sequence[Version]:
        if workflow not in self.settings.get("deployments", []):
            raise NotFound(f"no deployment {workflow!r} in {self.name}")
        names = self.settings.get("versions", ["v1", "v2"])
        return [Version(workflow, v, is_current=i == 0) for i, v in enumerate(names)]


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("OPSDECK_CONFIG", str(path))
    registry.register("split-stub", SplitStub)
    yield path
    registry.unregister("split-stub")


def opsdeck(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_bare_id_found_in_one_engine(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = opsdeck(capsys, "executions", "describe", "wf-2", "-o", "json")
    assert code == 0 and json.loads(out)["ref"] == "b:default/wf-2/run-2"
    code, out, _ = opsdeck(capsys, "executions", "history", "wf-0")
    assert code == 0 and "ActivityTaskFailed" in out
    code, out, _ = opsdeck(capsys, "-o", "json", "ex", "cancel", "wf-2", "--dry-run")
    assert code == 0 and json.loads(out)["plan"]["engine"] == "b"


def test_bare_id_in_several_engines_or_none(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = opsdeck(capsys, "executions", "describe", "wf-1")
    assert code == 2
    assert err == (
        "opsdeck: Usage error: 'wf-1' is in several engines: a:default/wf-1, b:default/wf-1; "
        "pass one of these refs\n"
    )
    code, _, err = opsdeck(capsys, "executions", "describe", "nope")
    assert (code, err) == (1, "opsdeck: Not found: execution 'nope' not found in engines a, b\n")


def test_unknown_engine_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = opsdeck(capsys, "executions", "describe", "foo:bar/baz")
    assert (code, err) == (2, "opsdeck: Usage error: unknown engine foo (known: a, b)\n")
    code, _, err = opsdeck(capsys, "ex", "retry", "foo:bar/baz", "--dry-run")
    assert code == 2 and "unknown engine foo (known: a, b)" in err


def test_list_keeps_the_newest_across_engines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = opsdeck(capsys, "-o", "json", "executions", "list", "--limit", "2")
    rows = json.loads(out)
    assert code == 0 and [r["ref"] for r in rows] == [
        "b:default/wf-2/run-2",
        "b:default/wf-1/run-1",
    ]
    code, out, _ = opsdeck(capsys, "-o", "json", "executions", "list", "--limit", "0")
    starts = [r["start_time"] for r in json.loads(out)]
    assert len(starts) == 4 and starts == sorted(starts, reverse=True)


def test_query_goes_to_the_engines_that_take_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = opsdeck(capsys, "-o", "json", "ex", "list", "--query", "WorkflowId = 'x'")
    assert code == 0 and {r["engine"] for r in json.loads(out)} == {"a"}
    code, out, _ = opsdeck(capsys, "-o", "json", "ex", "retry", "--query", "q", "--dry-run")
    data = json.loads(out)
    assert code == 0 and data["plan"]["engine"] == "a" and len(data["plan"]["targets"]) == 2
    code, out, _ = opsdeck(capsys, "-o", "json", "ex", "count", "--query", "q")
    assert json.loads(out) == {"total": 2, "engines": {"a": 2}}


def test_query_matching_in_several_engines_needs_engine(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = opsdeck(capsys, "-c", "both-deploy", "ex", "retry", "--query", "q", "--dry-run")
    assert code == 2
    assert "the query matches executions in several engines: a (4), b (4)" in err
    assert "--engine NAME" in err
    code, out, _ = opsdeck(
        capsys, "-c", "both-deploy", "-o", "json", "ex", "retry", "--query", "q", "--engine", "b",
        "--dry-run",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["plan"]["engine"] == "b"


def test_versions_go_to_the_engine_with_the_deployment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = opsdeck(capsys, "-o", "json", "versions", "list", "orders")
    assert code == 0 and [v["version"] for v in json.loads(out)] == ["v1", "v2"]
    code, out, _ = opsdeck(capsys, "-o", "json", "versions", "rollback", "orders", "--dry-run")
    plan = json.loads(out)["plan"]
    assert code == 0 and plan["engine"] == "a"
    assert plan["calls"][0]["params"] == {"deployment": "orders", "version": "v2"}
    code, _, err = opsdeck(capsys, "versions", "list", "nowhere")
    assert (code, err) == (
        1,
        "opsdeck: Not found: deployment 'nowhere' not found in engines a, b\n",
    )
    code, _, err = opsdeck(capsys, "-c", "both-deploy", "versions", "list", "orders")
    assert code == 2 and "deployment 'orders' is in several engines: a, b" in err
    assert "--engine NAME" in err


def test_rollback_without_to_needs_exactly_one_other_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = opsdeck(capsys, "versions", "rollback", "billing", "--dry-run")
    assert code == 2
    assert err == (
        "opsdeck: Usage error: deployment 'billing' has several other versions: v2, v3; "
        "pass --to VERSION\n"
    )
    code, out, _ = opsdeck(
        capsys, "-o", "json", "versions", "rollback", "billing", "--to", "v3", "--dry-run"
    )
    assert code == 0 and json.loads(out)["plan"]["calls"][0]["params"]["version"] == "v3"
