"""`opsdeck login|logout|whoami`: the verified identity the policy sees (docs/identity.md).

Prompts and notes go to stderr; the result goes to stdout (key: value lines, or -o
json|yaml with the keys user, groups, verified, issuer, expires_at, source, location).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.cli_common import output_format
from console.config import load_config
from console.errors import ConfigError
from console.output import emit, iso

if TYPE_CHECKING:
    from console.config import Config
    from console.identity.device import DeviceCode

UNVERIFIED_NOTE = "(unverified: OS/config user)"


def _config(args: argparse.Namespace) -> Config:
    return load_config(Path(args.config) if getattr(args, "config", None) else None)


def _oidc(config: Config) -> dict[str, Any]:
    if not config.oidc:
        raise ConfigError(
            f"{config.path} has no oidc: section",
            hint="add oidc: {issuer: ..., client-id: ...} (docs/identity.md)",
        )
    return dict(config.oidc)


def _can_open_browser() -> bool:
    """Not on a headless Linux box, where webbrowser would start lynx in our terminal."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _announce(code: DeviceCode, *, browser: bool) -> None:
    err = sys.stderr
    err.write(f"To sign in, open {code.verification_uri}\n")
    err.write(f"and enter the code: {code.user_code}\n")
    if code.verification_uri_complete:
        err.write(f"(or open {code.verification_uri_complete})\n")
    err.write(f"Waiting for sign-in (the code expires in {code.expires_in / 60:.0f} min)...\n")
    err.flush()
    if browser and _can_open_browser():
        import webbrowser

        webbrowser.open(code.verification_uri_complete or code.verification_uri)


def cmd_login(args: argparse.Namespace) -> int:
    from console.identity import device, store

    settings = _oidc(_config(args))
    token, checked = device.login(
        settings, lambda code: _announce(code, browser=not args.no_browser)
    )
    saved = store.save(str(settings["issuer"]), token)
    identity = checked.identity
    data = {
        "user": identity.user,
        "groups": list(identity.groups),
        "verified": identity.verified,
        "issuer": identity.issuer,
        "expires_at": iso(checked.expires_at),
        "stored_in": saved.kind,
        "location": saved.location,
    }
    fmt = output_format(args)
    if fmt != "table":
        emit(data, fmt)
    else:
        groups = ", ".join(identity.groups) or "none"
        print(f"Logged in as {identity.user} (groups: {groups}) at {identity.issuer}")
        print(f"ID token valid until {data['expires_at']}, stored in {saved.where}")
        if saved.kind == "file":
            print("(no OS keyring available: the file is readable by your user only, mode 0600)")
    if os.environ.get("OPSDECK_ID_TOKEN", "").strip():
        print("opsdeck: note: $OPSDECK_ID_TOKEN is set and overrides this login", file=sys.stderr)
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    from console.identity import store

    config = _config(args)
    if not config.oidc:
        print(f"Nothing to forget: {config.path} has no oidc: section.")
        return 0
    issuer = str(config.oidc["issuer"])
    removed = store.delete(issuer)
    if removed:
        print(f"Forgot the ID token for {issuer} ({'; '.join(removed)}).")
    else:
        print(f"No ID token stored for {issuer}.")
    if os.environ.get("OPSDECK_ID_TOKEN", "").strip():
        print("opsdeck: note: $OPSDECK_ID_TOKEN is still set and still used", file=sys.stderr)
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    from console.identity.current import resolve

    config = _config(args)
    resolved = resolve(config)
    identity = resolved.identity
    data: dict[str, Any] = {
        "user": identity.user,
        "groups": list(identity.groups),
        "verified": identity.verified,
        "issuer": identity.issuer,
        "expires_at": iso(resolved.expires_at),
        "source": resolved.source,
        "location": resolved.location,
        "note": None if identity.verified else UNVERIFIED_NOTE.strip("()"),
    }
    if config.oidc and not identity.verified:
        print("opsdeck: note: not logged in; `opsdeck login` proves who you are", file=sys.stderr)
    fmt = output_format(args)
    if fmt != "table":
        emit(data, fmt)
        return 0
    if identity.verified:
        rows = dict(data, groups=", ".join(identity.groups) or "none")
        del rows["note"]
        emit(rows, fmt)
    else:
        emit({"user": f"{identity.user} {UNVERIFIED_NOTE}", "verified": False}, fmt)
    return 0
