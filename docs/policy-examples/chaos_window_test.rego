package opsdeck

import rego.v1

prod := {"name": "prod", "read_only": false, "production": true}

test_chaos_on_tuesday_noon_is_allowed if {
	decision.result == "allow" with input as {"context": prod, "action": "chaos.run", "time": {"weekday": "Tuesday", "hour": 12}}
}

test_chaos_on_saturday_is_denied if {
	d := decision with input as {"context": prod, "action": "chaos.run", "time": {"weekday": "Saturday", "hour": 12}}
	d.reasons == ["no chaos in production outside Tue-Thu 10:00-16:00 UTC"]
}

test_chaos_rollback_outside_the_window_is_allowed if {
	decision.result == "allow" with input as {"context": prod, "action": "chaos.rollback.stop_demo_worker", "time": {"weekday": "Saturday", "hour": 3}}
}

test_the_window_ends_at_16 if {
	decision.result == "deny" with input as {"context": prod, "action": "chaos.kill_workers", "time": {"weekday": "Thursday", "hour": 16}}
}

test_the_window_starts_at_10 if {
	decision.result == "allow" with input as {"context": prod, "action": "chaos.kill_workers", "time": {"weekday": "Thursday", "hour": 10}}
}

test_other_changes_ignore_the_window if {
	decision.result == "allow" with input as {"context": prod, "action": "terminate", "time": {"weekday": "Sunday", "hour": 3}}
}

test_chaos_outside_production_ignores_the_window if {
	decision.result == "allow" with input as {"context": {"name": "dev", "read_only": false, "production": false}, "action": "chaos.run", "time": {"weekday": "Sunday", "hour": 3}}
}
