"""opsdeck's Chaos Toolkit extension: ``chaos.actions``, ``chaos.probes``, ``chaos.controls``.

Providers speak only through opsdeck's sessions and ports (chaos._context turns an
experiment's ``configuration`` into a session and run); every changing action passes
console.actions.chaos.apply_chaos. Reference: docs/chaos.md, "The extension".
"""
