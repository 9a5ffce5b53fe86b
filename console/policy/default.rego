# opsdeck's shipped policy: today's rules as code (docs/policy.md).
# - a read-only context (or --read-only session) refuses every change;
# - chaos in a production context only where its config says chaos: {allowed: true};
# - chaos touches at most the context's chaos max-targets per action;
# - everything else is allowed (production still asks for the typed name).
# Note: regorus (opa-eval) drops the character after a sprintf verb; use concat().
package opsdeck

import rego.v1

default decision := {"result": "allow", "reasons": [], "approvals": 0, "approver_groups": []}

decision := {"result": "deny", "reasons": sort(deny), "approvals": 0, "approver_groups": []} if count(deny) > 0

deny contains why if {
	input.context.read_only
	why := concat("", ["context ", input.context.name, " is read-only; changes are refused"])
}

deny contains why if {
	startswith(input.action, "chaos.")
	not startswith(input.action, "chaos.rollback.")
	input.context.production
	not input.context.chaos.allowed
	why := concat("", ["context ", input.context.name, " is production and does not allow chaos experiments"])
}

deny contains why if {
	startswith(input.action, "chaos.")
	input.action != "chaos.run"
	not startswith(input.action, "chaos.rollback.")
	cap := input.context.chaos.max_targets
	is_number(cap)
	input.target_count > cap
	why := concat("", [
		"blast radius: ", format_int(input.target_count, 10),
		" targets, more than the context's cap of ", format_int(cap, 10),
	])
}
