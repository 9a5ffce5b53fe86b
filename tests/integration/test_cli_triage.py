"""`opsdeck executions triage` as a subprocess on the real dev server: -o json groups,
the table, one group, and a retry that goes through plan, policy, confirm and audit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client

from console.sandbox.devserver import DevServer
from tests.conftest import Demo
from tests.integration.temporal_config import write_temporal_config
from tests.integration.test_cli_executions import opsdeck
from tests.integration.triage_scenario import SYSTEMIC_RUNS, Scenario, scenario

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def made(demo: Demo) -> AsyncIterator[Scenario]:
    async with scenario(demo.address) as made:
        yield made


@pytest.fixture
def config(tmp_path: Path, temporal_server: DevServer) -> Path:
    return write_temporal_config(tmp_path / "config.yaml", temporal_server)


def triage(config: Path, *args: str) -> tuple[int, str, str]:
    done = opsdeck("executions", "triage", *args, config=config)
    return done.returncode, done.stdout, done.stderr


def test_json_groups(config: Path, made: Scenario) -> None:
    code, out, err = triage(config, "--query", made.query, "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["query"] == made.query and data["since"].endswith("Z")
    assert data["scanned"]["temporal"]["failed"] == SYSTEMIC_RUNS + 1
    assert data["scanned"]["temporal"]["structured"] is True
    verdicts = [(g["group"], g["verdict"], g["workflow_type"]) for g in data["groups"]]
    assert verdicts[0] == (1, "systemic", "OrderWorkflow")
    assert sorted(v[2] for v in verdicts[1:]) == ["DemoFailed", "TriageFlakyOrder"]
    bad = data["groups"][0]
    assert bad["version"] == "orders:v3" and bad["count"] == SYSTEMIC_RUNS
    assert bad["message"] == "order <id>: v<n> cannot price orders"
    assert len(bad["executions"]) == SYSTEMIC_RUNS == len(bad["failing"])
    assert bad["retry_command"].startswith("opsdeck executions retry temporal:default/")
    assert bad["runbook"]["name"] == "bad-deploy-rollback"
    assert "--param deployment=orders" in bad["runbook"]["command"]
    flaky = next(g for g in data["groups"] if g["workflow_type"] == "TriageFlakyOrder")
    assert flaky["failing"] == [] and flaky["retried_through"] == 1
    assert flaky["retry_command"] is None and flaky["activity_type"] == "reserve_stock"
    assert set(bad) == set(flaky)  # one shape for every group (docs/cli.md)


def test_table_and_nothing_found(config: Path, made: Scenario) -> None:
    code, out, err = triage(config, "--query", made.query)
    assert code == 0, err
    first = out.splitlines()[0]
    assert first.startswith("  1  SYSTEMIC") and "OrderWorkflow" in first and "orders:v3" in first
    assert f"systemic: {SYSTEMIC_RUNS} executions, all on orders:v3" in out
    assert "all retried through" in out
    assert "temporal: read " in err
    code, out, err = triage(config, "--query", made.query, "--since", "2099-01-01T00:00Z")
    assert code == 0, err
    assert out.startswith("No failures since 2099-01-01 00:00:00 UTC.")


def test_one_group_and_usage_errors(config: Path, made: Scenario) -> None:
    code, out, err = triage(config, "--query", made.query, "--group", "1")
    assert code == 0, err
    assert "Executions (6, 0 retried through):" in out
    assert all(f"/{w}/" in out for w in made.systemic_ids)
    assert "Runbook (systemic on version orders:v3): opsdeck runbook run bad-deploy-rollback" in out
    code, _, err = triage(config, "--query", made.query, "--group", "9")
    assert code == 2 and "found 3 group(s)" in err
    code, _, err = triage(config, "--retry")
    assert code == 2 and "--retry needs --group N" in err


def test_read_only_refuses_the_retry(config: Path, made: Scenario) -> None:
    done = opsdeck(
        "--read-only", "executions", "triage", "--query", made.query, "--group", "1", "--retry",
        "--yes", config=config,
    )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr


def test_retried_through_group_has_nothing_to_retry(config: Path, made: Scenario) -> None:
    code, out, _ = triage(config, "--query", made.query, "-o", "json")
    number = next(
        g["group"] for g in json.loads(out)["groups"] if g["workflow_type"] == "TriageFlakyOrder"
    )
    code, out, err = triage(config, "--query", made.query, "--group", str(number), "--retry")
    assert code == 0 and "nothing to retry" in err
    assert out == ""


async def test_retry_goes_through_the_change_path(config: Path, made: Scenario) -> None:
    """Dry run: the plan and nothing else; then --yes: applied, one audit record each."""
    code, out, err = triage(
        config, "--query", made.query, "--group", "1", "--retry", "--dry-run", "-o", "json"
    )
    assert code == 0, err
    plan = json.loads(out)
    assert plan["dry_run"] is True
    targets = plan["plan"]["targets"]
    assert sorted(t.split("/")[1] for t in targets) == sorted(made.systemic_ids)
    assert plan["plan"]["reason"].startswith("triage: OrderWorkflow: ApplicationError")
    assert json.loads(opsdeck("-o", "json", "audit", "list", config=config).stdout) == []

    code, out, err = triage(
        config, "--query", made.query, "--group", "1", "--retry", "--yes", "-o", "json"
    )
    assert code == 0, err
    report = json.loads(out)["report"]
    assert {o["outcome"] for o in report["outcomes"]} == {"ok"}
    records = json.loads(opsdeck("-o", "json", "audit", "list", config=config).stdout)
    assert sorted(r["target"] for r in records) == sorted(targets)
    assert {r["action"] for r in records} == {"retry"}
    client = await Client.connect(config_address(config), namespace="default")
    for workflow_id in made.systemic_ids:  # the reset started a new run of each
        runs = [e async for e in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
        assert len(runs) >= 2


def config_address(config: Path) -> str:
    for line in config.read_text().splitlines():
        if line.strip().startswith("address:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no address in the test config")
