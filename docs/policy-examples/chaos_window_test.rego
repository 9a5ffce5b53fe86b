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
