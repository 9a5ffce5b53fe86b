# Role L2 (group "l2") may change things only as steps of a runbook; everyone else
# keeps the shipped rules (read-only contexts refuse).
package opsdeck

import rego.v1

default decision := {"result": "allow", "reasons": []}

decision := {"result": "deny", "reasons": sort(deny)} if count(deny) > 0

deny contains why if {
	input.context.read_only
	why := concat("", ["context ", input.context.name, " is read-only"])
}

deny contains why if {
	"l2" in input.identity.groups
	input.runbook == null
	why := concat("", ["L2 may run runbooks only: ", input.action, " outside a runbook is refused"])
}
