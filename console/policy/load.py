"""The context's policy evaluator from the config's ``policy:`` section.

``policy.server`` set: an OPA server (adapters/opa.py). Else ``policy.file`` (relative to
the config file) or the shipped default.rego, in-process. Whatever goes wrong loading it
gives an evaluator that denies every change and says why (fail closed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from console.policy.settings import DEFAULT_DECISION

if TYPE_CHECKING:
    from console.config import Config
    from console.ports_policy import PolicyEvaluator

DEFAULT_POLICY = Path(__file__).with_name("default.rego")
_cache: dict[tuple[str, str, float], PolicyEvaluator] = {}


def policy_file(config: Config) -> Path:
    given = config.policy.get("file")
    if not given:
        return DEFAULT_POLICY
    path = Path(str(given)).expanduser()
    return (path if path.is_absolute() else config.path.parent / path).resolve()


def load_evaluator(config: Config) -> PolicyEvaluator:
    decision = str(config.policy.get("decision", DEFAULT_DECISION))
    server = config.policy.get("server")
    if server:
        from adapters.opa import OpaServerEvaluator

        return OpaServerEvaluator(
            str(server), decision, timeout=float(config.policy.get("timeout", 2.0))
        )
    from console.policy import regorus

    path = policy_file(config)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return regorus.load(path, decision)  # says it cannot be read
    key = (str(path), decision, mtime)
    if key not in _cache:
        _cache[key] = regorus.load(path, decision)
    return _cache[key]
