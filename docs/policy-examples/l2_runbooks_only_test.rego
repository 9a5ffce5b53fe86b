package opsdeck

import rego.v1

l2 := {"user": "lee", "groups": ["l2"], "verified": true}

dev := {"name": "dev", "read_only": false, "production": false}

test_l2_direct_retry_is_denied if {
	d := decision with input as {"identity": l2, "context": dev, "action": "retry", "runbook": null}
	d.result == "deny"
	d.reasons == ["L2 may run runbooks only: retry outside a runbook is refused"]
}

test_l2_runbook_step_is_allowed if {
	decision.result == "allow" with input as {"identity": l2, "context": dev, "action": "retry", "runbook": "stuck-activity"}
}

test_oncall_direct_is_allowed if {
	decision.result == "allow" with input as {"identity": {"user": "olga", "groups": ["oncall"]}, "context": dev, "action": "terminate", "runbook": null}
}

test_l2_runbook_step_in_a_read_only_context_is_denied if {
	decision.result == "deny" with input as {"identity": l2, "context": {"name": "ro", "read_only": true, "production": false}, "action": "retry", "runbook": "stuck-activity"}
}

test_l2_chaos_outside_a_runbook_is_denied if {
	decision.result == "deny" with input as {"identity": l2, "context": dev, "action": "chaos.run", "runbook": null}
}
