# No chaos in production outside the game-day window: Tuesday to Thursday,
# 10:00-16:00 UTC. Rollbacks of chaos are never refused (opsdeck enforces that too).
package opsdeck

import rego.v1

default decision := {"result": "allow", "reasons": []}

decision := {"result": "deny", "reasons": sort(deny)} if count(deny) > 0

window_days := {"Tuesday", "Wednesday", "Thursday"}

in_window if {
	input.time.weekday in window_days
	input.time.hour >= 10
	input.time.hour < 16
}

deny contains why if {
	input.context.read_only
	why := concat("", ["context ", input.context.name, " is read-only"])
}

deny contains "no chaos in production outside Tue-Thu 10:00-16:00 UTC" if {
	startswith(input.action, "chaos.")
	not startswith(input.action, "chaos.rollback.")
	input.context.production
	not in_window
}
