"""Field checks shared by the engine adapters' settings parsers.

Each raises ConfigError naming the field only; the config layer prefixes the file:line
and the engine entry (``engines[0].``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from console.errors import ConfigError


def text(settings: Mapping[str, object], key: str, *, required: bool = False) -> str | None:
    """A non-empty string, stripped; None when absent (ConfigError when required)."""
    value = settings.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{key}: required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: must be a non-empty string, got {value!r}")
    return value.strip()


def positive_number(settings: Mapping[str, object], key: str, default: float) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{key}: must be a positive number, got {value!r}")
    return float(value)


def reject_unknown(settings: Mapping[str, object], known: Iterable[str], kind: str) -> None:
    """A typo in a key is an error, not a silently ignored setting."""
    known = set(known)
    unknown = set(settings) - known
    if unknown:
        raise ConfigError(
            f"{sorted(unknown)[0]}: unknown field for a {kind} engine; "
            f"known: {', '.join(sorted(known))}"
        )
