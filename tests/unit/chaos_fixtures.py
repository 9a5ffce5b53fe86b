"""Experiment files and a config for the chaos CLI tests (providers: tests.chaos_providers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.experiments import activities

MODULE = "tests.chaos_providers.flag"


def provider(func: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "python", "module": MODULE, "func": func, "arguments": arguments}


def experiment(
    flag: Path,
    *,
    method: list[dict[str, Any]] | None = None,
    rollbacks: bool = True,
    title: str = "flag flip",
) -> dict[str, Any]:
    """Hypothesis 'flag is off'; the method writes the flag; the rollback removes it."""
    data: dict[str, Any] = {
        "title": title,
        "description": "write a flag and remove it",
        "steady-state-hypothesis": {
            "title": "flag is off",
            "probes": [
                {
                    "type": "probe",
                    "name": "flag-off",
                    "tolerance": "off",
                    "provider": provider("flag_text", path=str(flag)),
                }
            ],
        },
        "method": method
        if method is not None
        else [
            {
                "type": "action",
                "name": "write-flag",
                "provider": provider("write_flag", path=str(flag)),
            }
        ],
    }
    if rollbacks:
        data["rollbacks"] = [
            {
                "type": "action",
                "name": "remove-flag",
                "provider": provider("remove_flag", path=str(flag)),
            }
        ]
    return data


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=2))
    return path


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str = "") -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        "current-context: dev\nidentity: tester\ncontexts:\n  dev:\n"
        "    engines: [{kind: temporal, address: '127.0.0.1:9'}]\n" + extra
    )
    monkeypatch.setenv("OPSDECK_CONFIG", str(config))
    return config


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test providers get the checks opsdeck gives chaos.* / chaos.actions."""
    monkeypatch.setattr(activities, "CHECKED_PREFIXES", ("tests.chaos_providers.",))
    monkeypatch.setattr(activities, "CHANGING_MODULES", (MODULE,))
