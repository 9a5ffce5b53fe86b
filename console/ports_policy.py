"""Port for policy evaluation: in-process Rego (regorus) or an OPA server.

Synchronous on purpose: drains and chaos activities run in threads, and the in-process
engine answers in microseconds; async callers run a remote evaluator in a thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from console.policy.model import Decision


class PolicyEvaluator(Protocol):
    @property
    def name(self) -> str:
        """ "regorus" (in-process), "opa-server", or "fail-closed" (a broken policy)."""
        ...

    @property
    def policy_hash(self) -> str:
        """sha256:<hex> of the policy source(s), recorded in every audit record."""
        ...

    @property
    def remote(self) -> bool:
        """True when decide() does network I/O (async callers use a thread)."""
        ...

    def decide(self, document: Mapping[str, Any]) -> Decision:
        """The decision for one input document; never raises for a policy error
        (a broken or failing policy is a deny naming the file and line)."""
        ...
