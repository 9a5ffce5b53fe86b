package opsdeck

import rego.v1

prod := {"name": "prod", "read_only": false, "production": true}

olga := {"user": "olga", "groups": ["oncall"], "verified": true}

test_eleven_production_targets_need_an_oncall_approval if {
	d := decision with input as {"identity": olga, "context": prod, "action": "terminate", "target_count": 11}
	d.result == "approve"
	d.approvals == 1
	d.approver_groups == ["oncall"]
}

test_ten_are_fine if {
	decision.result == "allow" with input as {"identity": olga, "context": prod, "action": "terminate", "target_count": 10}
}

test_unverified_is_denied_in_production if {
	d := decision with input as {"identity": {"user": "root", "groups": [], "verified": false}, "context": prod, "action": "retry", "target_count": 1}
	d.result == "deny"
}

test_eleven_targets_outside_production_are_fine if {
	decision.result == "allow" with input as {"identity": olga, "context": {"name": "dev", "read_only": false, "production": false}, "action": "terminate", "target_count": 11}
}

test_a_deny_wins_over_an_approval if {
	d := decision with input as {"identity": {"user": "root", "groups": [], "verified": false}, "context": prod, "action": "terminate", "target_count": 11}
	d.result == "deny"
	d.reasons == ["production changes need a verified identity (opsdeck login)"]
}
