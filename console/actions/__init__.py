"""Remediation as plan -> preview -> policy -> apply -> audit."""

from console.actions.policy import check_change_allowed, confirmation_phrase
from console.actions.runner import ActionRunner, ApplyReport

__all__ = ["ActionRunner", "ApplyReport", "check_change_allowed", "confirmation_phrase"]
