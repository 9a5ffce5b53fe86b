"""Chaos Toolkit experiments from the console: load, validate, plan, run, store.

Experiments are Chaos Toolkit files run by chaoslib itself; this package adds file:line
errors, opsdeck's own checks, the run store and the launcher. Only the CLI (and tests)
import it, so nothing else pays for chaoslib's import.
"""
