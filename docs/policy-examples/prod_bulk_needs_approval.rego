# More than 10 targets in a production context need one approval from group "oncall"
# (never the requester: the approvals store refuses that). Production also requires a
# verified (OIDC) identity for any change.
package opsdeck

import rego.v1

default decision := {"result": "allow", "reasons": []}

decision := {"result": "deny", "reasons": sort(deny)} if count(deny) > 0

decision := {
	"result": "approve",
	"reasons": [concat("", [format_int(input.target_count, 10), " production targets: more than 10 need another on-call"])],
	"approvals": 1,
	"approver_groups": ["oncall"],
} if {
	count(deny) == 0
	input.context.production
	input.target_count > 10
}

deny contains why if {
	input.context.read_only
	why := concat("", ["context ", input.context.name, " is read-only"])
}

deny contains "production changes need a verified identity (opsdeck login)" if {
	input.context.production
	not input.identity.verified
}
