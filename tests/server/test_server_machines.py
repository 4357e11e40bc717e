"""State machine operations through real boto3 against a real server: Create, Describe,
Update (with published versions), Delete, List (paginated), ListStateMachineVersions,
ValidateStateMachineDefinition, tags, and AWS's errors for each."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from botocore.exceptions import ClientError

from tests.server.conftest import RunningServer

ROLE = "arn:aws:iam::123456789012:role/StepFunctions"
ROLE2 = "arn:aws:iam::123456789012:role/Other"
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:"


def definition(result: object) -> str:
    return json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result,
                                                         "End": True}}})


def code(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


def test_create_describe_idempotent_and_already_exists(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    created = sfn.create_state_machine(
        name="flow", definition=definition(1), roleArn=ROLE, type="STANDARD",
        tags=[{"key": "team", "value": "payments"}],
        loggingConfiguration={"level": "OFF", "includeExecutionData": False})
    assert created["stateMachineArn"] == ARN + "flow"
    assert isinstance(created["creationDate"], datetime)
    again = sfn.create_state_machine(name="flow", definition=definition(1), roleArn=ROLE2)
    assert again["creationDate"] == created["creationDate"]  # AWS: idempotent
    with pytest.raises(sfn.exceptions.StateMachineAlreadyExists) as caught:
        sfn.create_state_machine(name="flow", definition=definition(2), roleArn=ROLE)
    assert caught.value.response["Error"]["Message"] == f"State Machine Already Exists: '{ARN}flow'"
    described = sfn.describe_state_machine(stateMachineArn=ARN + "flow")
    assert described["status"] == "ACTIVE"
    assert described["roleArn"] == ROLE  # the second create changed nothing
    assert json.loads(described["definition"])["States"]["P"]["Result"] == 1
    assert described["type"] == "STANDARD"
    assert described["loggingConfiguration"]["level"] == "OFF"
    assert described["tracingConfiguration"] == {"enabled": False}
    assert described["creationDate"] == created["creationDate"]
    assert sfn.list_tags_for_resource(resourceArn=ARN + "flow")["tags"] == [
        {"key": "team", "value": "payments"}]


def test_update_publishes_versions(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    created = sfn.create_state_machine(name="v", definition=definition("one"), roleArn=ROLE,
                                       publish=True, versionDescription="first")
    assert created["stateMachineVersionArn"] == ARN + "v:1"
    updated = sfn.update_state_machine(stateMachineArn=ARN + "v", definition=definition("two"),
                                       publish=True, versionDescription="second")
    assert updated["stateMachineVersionArn"] == ARN + "v:2"
    assert isinstance(updated["updateDate"], datetime)
    first = sfn.describe_state_machine(stateMachineArn=ARN + "v:1")
    assert json.loads(first["definition"])["States"]["P"]["Result"] == "one"
    assert first["description"] == "first"
    assert first["stateMachineArn"] == ARN + "v:1"
    current = sfn.describe_state_machine(stateMachineArn=ARN + "v")
    assert json.loads(current["definition"])["States"]["P"]["Result"] == "two"
    assert current["revisionId"] == updated["revisionId"] != first["revisionId"]
    versions = sfn.list_state_machine_versions(stateMachineArn=ARN + "v")["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [ARN + "v:2", ARN + "v:1"]
    # back to the first definition: it is current again, and version 1 still runs "one"
    sfn.update_state_machine(stateMachineArn=ARN + "v", definition=definition("one"))
    current = sfn.describe_state_machine(stateMachineArn=ARN + "v")
    assert json.loads(current["definition"])["States"]["P"]["Result"] == "one"
    sfn.update_state_machine(stateMachineArn=ARN + "v", roleArn=ROLE2)
    assert sfn.describe_state_machine(stateMachineArn=ARN + "v")["roleArn"] == ROLE2
    with pytest.raises(ClientError) as caught:
        sfn.update_state_machine(stateMachineArn=ARN + "v")
    assert code(caught) == "MissingRequiredParameter"
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn=ARN + "v:9")
    with pytest.raises(sfn.exceptions.InvalidDefinition):
        sfn.update_state_machine(stateMachineArn=ARN + "v", definition='{"StartAt": "Nope", "States": {}}')


def test_delete_and_list_pages(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    for index in range(5):
        sfn.create_state_machine(name=f"m{index}", definition=definition(index), roleArn=ROLE)
    first = sfn.list_state_machines(maxResults=2)
    assert [m["name"] for m in first["stateMachines"]] == ["m0", "m1"]
    second = sfn.list_state_machines(maxResults=2, nextToken=first["nextToken"])
    assert [m["name"] for m in second["stateMachines"]] == ["m2", "m3"]
    third = sfn.list_state_machines(maxResults=2, nextToken=second["nextToken"])
    assert [m["name"] for m in third["stateMachines"]] == ["m4"]
    assert "nextToken" not in third
    paginated = sfn.get_paginator("list_state_machines").paginate(PaginationConfig={"PageSize": 3})
    assert [m["name"] for p in paginated for m in p["stateMachines"]] == [f"m{i}" for i in range(5)]
    sfn.delete_state_machine(stateMachineArn=ARN + "m1")
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn=ARN + "m1")
    names = [m["name"] for m in sfn.list_state_machines()["stateMachines"]]
    assert names == ["m0", "m2", "m3", "m4"]
    sfn.delete_state_machine(stateMachineArn=ARN + "m1")  # AWS: deleting again succeeds
    sfn.create_state_machine(name="m1", definition=definition("new"), roleArn=ROLE)
    described = sfn.describe_state_machine(stateMachineArn=ARN + "m1")
    assert json.loads(described["definition"])["States"]["P"]["Result"] == "new"
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.list_state_machines(nextToken="bm90IGEgdG9rZW4")


def test_errors_name_arn_definition(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    with pytest.raises(sfn.exceptions.InvalidName) as name:
        sfn.create_state_machine(name="has space", definition=definition(1), roleArn=ROLE)
    assert name.value.response["Error"]["Message"] == "Invalid Name: 'has space'"
    with pytest.raises(sfn.exceptions.InvalidArn) as arn:
        sfn.describe_state_machine(stateMachineArn="not-an-arn")
    assert "Invalid Arn" in arn.value.response["Error"]["Message"]
    with pytest.raises(sfn.exceptions.InvalidArn):
        sfn.describe_state_machine(
            stateMachineArn="arn:aws:states:us-east-1:123456789012:activity:a")
    bad = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Missing"}}})
    with pytest.raises(sfn.exceptions.InvalidDefinition) as invalid:
        sfn.create_state_machine(name="bad", definition=bad, roleArn=ROLE)
    message = invalid.value.response["Error"]["Message"]
    assert message.startswith("Invalid State Machine Definition: '")
    assert "Missing" in message and "/States/A/Next" in message
    with pytest.raises(sfn.exceptions.InvalidDefinition) as not_json:
        sfn.create_state_machine(name="bad", definition="{nope", roleArn=ROLE)
    assert "INVALID_JSON_DESCRIPTION" in not_json.value.response["Error"]["Message"]
    express_only = json.dumps({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:x",
        "End": True}}})
    with pytest.raises(sfn.exceptions.InvalidDefinition) as express:
        sfn.create_state_machine(name="ex", definition=express_only, roleArn=ROLE,
                                 type="EXPRESS")
    assert "activit" in express.value.response["Error"]["Message"].lower()


@pytest.mark.parametrize(("resource", "named"), [
    ("python:os:system", "python:os:system"),
    ("shell", "shell"),
    ("arn:aws:lambda:us-east-1:123456789012:function:real", "function:real"),
])
def test_policy_refuses_what_the_operator_did_not_allow(sm_server: RunningServer, resource: str,
                                                         named: str) -> None:
    sfn = sm_server.client()
    body = {"Type": "Task", "Resource": resource, "End": True}
    if resource == "shell":
        body["Parameters"] = {"Command": "id"}
    with pytest.raises(sfn.exceptions.InvalidDefinition) as caught:
        sfn.create_state_machine(name="evil", definition=json.dumps(
            {"StartAt": "T", "States": {"T": body}}), roleArn=ROLE)
    assert named in caught.value.response["Error"]["Message"]
    assert sfn.list_state_machines()["stateMachines"] == []


def test_validate_state_machine_definition(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    ok = sfn.validate_state_machine_definition(definition=definition(1))
    assert ok["result"] == "OK" and ok["diagnostics"] == []
    bad = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Missing"}}})
    failed = sfn.validate_state_machine_definition(definition=bad, type="STANDARD")
    assert failed["result"] == "FAIL"
    located = {d["location"]: d for d in failed["diagnostics"]}
    assert located["/States/A/Next"]["severity"] == "ERROR"
    assert "'Missing'" in located["/States/A/Next"]["message"]
    assert failed["truncated"] is False


def test_tags(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    arn = sfn.create_state_machine(name="t", definition=definition(1), roleArn=ROLE)["stateMachineArn"]
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "3"}])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "a", "value": "3"}, {"key": "b", "value": "2"}]
    sfn.untag_resource(resourceArn=arn, tagKeys=["a", "unknown"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "b", "value": "2"}]
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.list_tags_for_resource(resourceArn=ARN + "nope")
    with pytest.raises(sfn.exceptions.TooManyTags):
        sfn.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": ""} for i in range(50)])
