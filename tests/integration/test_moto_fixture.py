from __future__ import annotations

from tests.conftest import MotoServer


def test_moto_server_runs_state_machines(moto_server: MotoServer) -> None:
    sfn = moto_server.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="fixture-check",
        definition='{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}',
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert sfn.describe_execution(executionArn=execution)["stateMachineArn"] == arn
