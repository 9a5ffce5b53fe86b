package opsdeck

import rego.v1

test_a_change_is_allowed if {
	decision.result == "allow" with input as {"action": "retry", "target_count": 1, "context": {"name": "dev", "read_only": false, "production": false, "chaos": {"allowed": false}}}
}

test_read_only_denies if {
	d := decision with input as {"action": "retry", "target_count": 1, "context": {"name": "ro", "read_only": true, "production": false, "chaos": {"allowed": false}}}
	d.result == "deny"
	d.reasons == ["context ro is read-only; changes are refused"]
}

test_chaos_in_production_needs_the_context_to_allow_it if {
	d := decision with input as {"action": "chaos.run", "target_count": 1, "context": {"name": "prod", "read_only": false, "production": true, "chaos": {"allowed": false}}}
	d.result == "deny"
}

test_chaos_allowed_in_production_when_configured if {
	decision.result == "allow" with input as {"action": "chaos.run", "target_count": 1, "context": {"name": "prod", "read_only": false, "production": true, "chaos": {"allowed": true}}}
}

test_chaos_blast_radius if {
	d := decision with input as {"action": "chaos.kill_workers", "target_count": 3, "context": {"name": "dev", "read_only": false, "production": false, "chaos": {"allowed": false, "max_targets": 2}}}
	d.reasons == ["blast radius: 3 targets, more than the context's cap of 2"]
}

test_rollbacks_are_never_denied_for_chaos if {
	decision.result == "allow" with input as {"action": "chaos.rollback.kill_workers", "target_count": 1, "context": {"name": "prod", "read_only": false, "production": true, "chaos": {"allowed": false}}}
}

test_the_blast_radius_cap_is_per_action_not_per_run if {
	decision.result == "allow" with input as {"action": "chaos.run", "target_count": 5, "context": {"name": "dev", "read_only": false, "production": false, "chaos": {"allowed": false, "max_targets": 2}}}
}

test_production_changes_other_than_chaos_are_allowed if {
	decision.result == "allow" with input as {"action": "terminate", "target_count": 50, "context": {"name": "prod", "read_only": false, "production": true, "chaos": {"allowed": false}}}
}

test_read_only_and_chaos_reasons_both_listed if {
	d := decision with input as {"action": "chaos.run", "target_count": 1, "context": {"name": "prod", "read_only": true, "production": true, "chaos": {"allowed": false}}}
	count(d.reasons) == 2
}
