"""Guarded rollouts (issue 14): ramp a new version step by step, check a guard after
each step's hold, roll back automatically on a breach; journaled, so a crash resumes.

plan.py (the steps, plain data), guard.py (the guard port and its checks), journal.py
(the ramp's records in the audit journal), engine.py (apply, hold, check, roll back).
No textual here; the CLI verb is console/cli_ramp.py.
"""
