"""sm serve through real boto3: the first operations, the AWS error shape, the token."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.server.conftest import RunningServer, wait_status

HELLO = json.dumps({"StartAt": "Hi", "States": {"Hi": {
    "Type": "Pass", "Parameters": {"greeting.$": "States.Format('hello {}', $.name)"},
    "End": True}}})
ROLE = "arn:aws:iam::123456789012:role/StepFunctions"


def test_create_start_describe(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    created = sfn.create_state_machine(name="hello", definition=HELLO, roleArn=ROLE)
    assert created["stateMachineArn"].endswith(":stateMachine:hello")
    listed = sfn.list_state_machines()["stateMachines"]
    assert [m["name"] for m in listed] == ["hello"]
    started = sfn.start_execution(stateMachineArn=created["stateMachineArn"], name="one",
                                  input=json.dumps({"name": "world"}))
    done = wait_status(sfn, started["executionArn"])
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"greeting": "hello world"}
    assert done["startDate"] <= done["stopDate"]  # botocore parsed epoch seconds into datetimes


def test_aws_error_shape(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:nope"
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist) as caught:
        sfn.describe_state_machine(stateMachineArn=arn)
    assert caught.value.response["Error"]["Message"] == f"State Machine Does Not Exist: '{arn}'"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(sfn.exceptions.InvalidDefinition) as invalid:
        sfn.create_state_machine(name="bad", definition='{"StartAt": "X", "States": {}}',
                                 roleArn=ROLE)
    assert "Invalid State Machine Definition" in invalid.value.response["Error"]["Message"]


def test_policy_refuses_python_module(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    definition = json.dumps({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "python:os:system", "End": True}}})
    with pytest.raises(ClientError) as caught:
        sfn.create_state_machine(name="evil", definition=definition, roleArn=ROLE)
    assert caught.value.response["Error"]["Code"] == "InvalidDefinition"
    message = caught.value.response["Error"]["Message"]
    assert "python:os:system" in message
    # as every other InvalidDefinition item: 'CODE: message' (ValidateStateMachineDefinition's code)
    assert message.startswith("Invalid State Machine Definition: 'INVALID_RESOURCE: ")


def test_token_is_the_secret_access_key(tmp_path: object) -> None:
    from statemachine.server.config import ServerConfig

    token = "s3cret-token-0123456789"
    with RunningServer(ServerConfig(db=f"{tmp_path}/t.db", port=0, token=token)) as server:
        assert server.client().list_state_machines()["stateMachines"] == []
        wrong = server.client(aws_secret_access_key="not-the-token-at-all")
        with pytest.raises(ClientError) as caught:
            wrong.list_state_machines()
        assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
