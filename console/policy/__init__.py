"""Who may do what: the policy port's types, the Rego evaluators and the change gate.

Every change asks :func:`console.policy.gate.authorize` before apply; the decision
(allow, deny with reasons, or approval needed) and the policy's hash go into the audit
record. See docs/policy.md.
"""
