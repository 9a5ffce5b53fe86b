"""The identity of whoever runs opsdeck now.

Verified: an OIDC ID token from $OPSDECK_ID_TOKEN, else the one `opsdeck login` stored,
checked against the issuer's JWKS (console.identity.oidc). Unverified otherwise:
$OPSDECK_IDENTITY, else the config's ``identity``, else the OS user. A token that is
present but fails verification is an error, never a silent fallback to unverified.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from console.policy.model import Identity

if TYPE_CHECKING:
    from console.config import Config

TOKEN_ENV = "OPSDECK_ID_TOKEN"
IDENTITY_ENV = "OPSDECK_IDENTITY"


def unverified_user(config_identity: str | None) -> str:
    """$OPSDECK_IDENTITY, else the config's ``identity``, else the OS user."""
    env = os.environ.get(IDENTITY_ENV, "").strip()
    if env:
        return env
    if config_identity:
        return config_identity
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return f"uid:{os.getuid()}"


@dataclass(frozen=True)
class ResolvedIdentity:
    """The identity and where it came from (for `opsdeck whoami`).

    ``source``: ``env`` ($OPSDECK_ID_TOKEN), ``keyring`` or ``file`` (stored by
    `opsdeck login`), or ``unverified`` (the OS/config user).
    """

    identity: Identity
    source: str
    expires_at: datetime | None = None
    location: str | None = None


def resolve(config: Config) -> ResolvedIdentity:
    """Verified when a token is given or stored and ``oidc:`` is configured."""
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if config.oidc:
        from console.identity import oidc

        if token is not None:
            checked = oidc.verify(token, config.oidc)
            return ResolvedIdentity(checked.identity, "env", checked.expires_at, f"${TOKEN_ENV}")
        found = oidc.stored(config.oidc)
        if found is not None:
            checked = oidc.verify(found.token, config.oidc)
            return ResolvedIdentity(
                checked.identity, found.kind, checked.expires_at, found.location
            )
    elif token is not None:
        from console.errors import ConfigError

        raise ConfigError(
            f"${TOKEN_ENV} is set but the config has no oidc: section to verify it against",
            hint="add oidc: {issuer: ..., client-id: ...} (docs/identity.md) or unset it",
        )
    return ResolvedIdentity(Identity(unverified_user(config.identity)), "unverified")


def resolve_identity(config: Config) -> Identity:
    """Verified when a token is given or stored and ``oidc:`` is configured."""
    return resolve(config).identity
