"""Execution operations through real boto3 against a real server: StartExecution,
StartSyncExecution, DescribeExecution, DescribeStateMachineForExecution, ListExecutions
(statusFilter, redriveFilter, pagination), GetExecutionHistory (reverseOrder,
includeExecutionData, pagination), StopExecution, RedriveExecution, SendTaskSuccess /
Failure / Heartbeat, and their AWS errors."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import RunningServer, read_token, wait_status

ROLE = "arn:aws:iam::123456789012:role/StepFunctions"
ARN = "arn:aws:states:us-east-1:123456789012:"

DOUBLE = {"StartAt": "Double", "States": {"Double": {
    "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
    "Parameters": {"value.$": "$.n"}, "End": True}}}
APPROVAL = {"StartAt": "Ask", "States": {
    "Ask": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"order.$": "$.order", "token.$": "$$.Task.Token"},
            "HeartbeatSeconds": 60, "Next": "Done"},
    "Done": {"Type": "Pass", "End": True}}}
FAILING = {"StartAt": "Check", "States": {
    "Check": {"Type": "Choice", "Choices": [
        {"Variable": "$.ok", "BooleanEquals": True, "Next": "Fine"}], "Default": "Boom"},
    "Boom": {"Type": "Fail", "Error": "NotOk", "Cause": "ok was false"},
    "Fine": {"Type": "Succeed"}}}


def create(sfn: Any, name: str, definition: dict[str, Any], **options: Any) -> str:
    arn: str = sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                        roleArn=ROLE, **options)["stateMachineArn"]
    return arn


def test_start_describe_history(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    machine = create(sfn, "double", DOUBLE)
    started = sfn.start_execution(stateMachineArn=machine, name="first", input='{"n": 21}')
    assert started["executionArn"] == ARN + "execution:double:first"
    done = wait_status(sfn, started["executionArn"])
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"value": 42}
    assert done["input"] == '{"n":21}'
    assert done["stateMachineArn"] == machine
    assert done["startDate"] <= done["stopDate"]
    meta = sfn.describe_execution(executionArn=started["executionArn"], includedData="METADATA_ONLY")
    assert "input" not in meta and meta["inputDetails"] == {"included": False}
    events = sfn.get_execution_history(executionArn=started["executionArn"])["events"]
    types = [e["type"] for e in events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    backwards = sfn.get_execution_history(executionArn=started["executionArn"], reverseOrder=True)
    assert [e["id"] for e in backwards["events"]] == list(range(len(events), 0, -1))
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=started["executionArn"], PaginationConfig={"PageSize": 2})
    assert [e["id"] for p in pages for e in p["events"]] == [e["id"] for e in events]
    bare = sfn.get_execution_history(executionArn=started["executionArn"],
                                     includeExecutionData=False)["events"]
    assert "input" not in bare[0]["executionStartedEventDetails"]
    assert json.loads(events[0]["executionStartedEventDetails"]["input"]) == {"n": 21}
    # the same name and input while it runs is idempotent; once it ended, the name is taken
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=machine, name="first", input='{"n": 21}')
    for_execution = sfn.describe_state_machine_for_execution(executionArn=started["executionArn"])
    assert for_execution["stateMachineArn"] == machine
    assert json.loads(for_execution["definition"]) == DOUBLE


def test_errors(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    machine = create(sfn, "double", DOUBLE)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.start_execution(stateMachineArn=ARN + "stateMachine:nope")
    with pytest.raises(sfn.exceptions.InvalidExecutionInput):
        sfn.start_execution(stateMachineArn=machine, input="{not json")
    with pytest.raises(sfn.exceptions.InvalidName):
        sfn.start_execution(stateMachineArn=machine, name="a/b")
    missing = ARN + "execution:double:nope"
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist) as caught:
        sfn.describe_execution(executionArn=missing)
    assert caught.value.response["Error"]["Message"] == f"Execution Does Not Exist: '{missing}'"
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.get_execution_history(executionArn=missing)
    with pytest.raises(sfn.exceptions.InvalidArn):
        sfn.describe_execution(executionArn=machine)
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.send_task_success(taskToken="not-a-token", output="{}")
    with pytest.raises(sfn.exceptions.TaskDoesNotExist):
        sfn.send_task_success(taskToken="3f0b5bb0-6a6f-4f3e-9d6e-0c8a3c1b2a10", output="{}")
    with pytest.raises(sfn.exceptions.StateMachineTypeNotSupported):
        sfn.start_sync_execution(stateMachineArn=machine)


def test_list_executions_filters_and_pages(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    machine = create(sfn, "check", FAILING)
    for index in range(5):
        arn = sfn.start_execution(stateMachineArn=machine, name=f"e{index}",
                                  input=json.dumps({"ok": index % 2 == 0}))["executionArn"]
        wait_status(sfn, arn)
    failed = sfn.list_executions(stateMachineArn=machine, statusFilter="FAILED")["executions"]
    assert sorted(e["name"] for e in failed) == ["e1", "e3"]
    assert all(e["status"] == "FAILED" for e in failed)
    first = sfn.list_executions(stateMachineArn=machine, maxResults=3)
    assert len(first["executions"]) == 3 and "nextToken" in first
    rest = sfn.list_executions(stateMachineArn=machine, maxResults=3, nextToken=first["nextToken"])
    names = [e["name"] for e in first["executions"] + rest["executions"]]
    assert sorted(names) == [f"e{i}" for i in range(5)] and "nextToken" not in rest
    starts = [e["startDate"] for e in first["executions"] + rest["executions"]]
    assert starts == sorted(starts, reverse=True)  # AWS: the most recent first
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.list_executions(stateMachineArn=machine, statusFilter="FAILED",
                            nextToken=first["nextToken"])  # a token of another listing
    sfn.redrive_execution(executionArn=ARN + "execution:check:e1")
    wait_status(sfn, ARN + "execution:check:e1")
    redriven = sfn.list_executions(stateMachineArn=machine, redriveFilter="REDRIVEN")
    assert [e["name"] for e in redriven["executions"]] == ["e1"]
    assert redriven["executions"][0]["redriveCount"] == 1
    not_redriven = sfn.list_executions(stateMachineArn=machine, redriveFilter="NOT_REDRIVEN")
    assert len(not_redriven["executions"]) == 4


def test_callback_success_failure_heartbeat(sm_server: RunningServer, tmp_path: Path) -> None:
    sfn = sm_server.client()
    machine = create(sfn, "approval", APPROVAL)
    arn = sfn.start_execution(stateMachineArn=machine, name="a1",
                              input='{"order": 7}')["executionArn"]
    sent = read_token(tmp_path / "tokens", "Ask")
    assert sent["input"]["order"] == 7
    token = sent["token"]
    sfn.send_task_heartbeat(taskToken=token)
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    sfn.send_task_success(taskToken=token, output='{"approved": true}')
    done = wait_status(sfn, arn)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"approved": True}
    with pytest.raises(sfn.exceptions.TaskDoesNotExist):  # answered once only
        sfn.send_task_success(taskToken=token, output="{}")
    with pytest.raises(sfn.exceptions.InvalidOutput):
        sfn.send_task_success(taskToken=token, output="{broken")

    (tmp_path / "tokens" / "Ask.json").unlink()
    arn = sfn.start_execution(stateMachineArn=machine, name="a2", input='{"order": 8}')["executionArn"]
    token = read_token(tmp_path / "tokens", "Ask")["token"]
    sfn.send_task_failure(taskToken=token, error="Rejected", cause="too expensive")
    done = wait_status(sfn, arn)
    assert (done["status"], done["error"], done["cause"]) == ("FAILED", "Rejected", "too expensive")


def test_stop_and_redrive(sm_server: RunningServer, tmp_path: Path) -> None:
    sfn = sm_server.client()
    machine = create(sfn, "approval", APPROVAL)
    arn = sfn.start_execution(stateMachineArn=machine, name="s1", input='{"order": 1}')["executionArn"]
    token = read_token(tmp_path / "tokens", "Ask")["token"]
    stopped = sfn.stop_execution(executionArn=arn, error="Cancelled", cause="by the test")
    assert stopped["stopDate"] is not None
    found = sfn.describe_execution(executionArn=arn)
    assert (found["status"], found["error"], found["cause"]) == ("ABORTED", "Cancelled", "by the test")
    assert found["redriveStatus"] == "REDRIVABLE"
    with pytest.raises(sfn.exceptions.TaskDoesNotExist):
        sfn.send_task_success(taskToken=token, output="{}")
    (tmp_path / "tokens" / "Ask.json").unlink()
    redriven = sfn.redrive_execution(executionArn=arn)
    assert redriven["redriveDate"] is not None
    token = read_token(tmp_path / "tokens", "Ask")["token"]  # the Task runs again
    sfn.send_task_success(taskToken=token, output='{"again": 1}')
    done = wait_status(sfn, arn)
    assert done["status"] == "SUCCEEDED" and done["redriveCount"] == 1
    with pytest.raises(sfn.exceptions.ExecutionNotRedrivable):
        sfn.redrive_execution(executionArn=arn)


def test_start_sync_execution_express(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    machine = create(sfn, "fast", DOUBLE, type="EXPRESS")
    done = sfn.start_sync_execution(stateMachineArn=machine, name="s", input='{"n": 5}')
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"value": 10}
    assert done["executionArn"].startswith(ARN + "express:fast:")
    assert done["billingDetails"]["billedDurationInMilliseconds"] >= 100
    failing = create(sfn, "fastfail", FAILING, type="EXPRESS")
    failed = sfn.start_sync_execution(stateMachineArn=failing, input='{"ok": false}')
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "NotOk", "ok was false")


def test_version_arn_starts_that_version(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    one = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": True}}}
    two = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 2, "End": True}}}
    machine = create(sfn, "ver", one, publish=True)
    sfn.update_state_machine(stateMachineArn=machine, definition=json.dumps(two))
    old = sfn.start_execution(stateMachineArn=machine + ":1")["executionArn"]
    new = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    described = wait_status(sfn, old)
    assert json.loads(described["output"]) == 1
    assert described["stateMachineVersionArn"] == machine + ":1"
    assert "stateMachineVersionArn" not in wait_status(sfn, new)
    assert json.loads(wait_status(sfn, new)["output"]) == 2
    of_version = sfn.list_executions(stateMachineArn=machine + ":1")["executions"]
    assert [e["executionArn"] for e in of_version] == [old]
    assert of_version[0]["stateMachineVersionArn"] == machine + ":1"
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 2


def test_an_answer_after_the_heartbeat_deadline_is_task_timed_out(sm_server: RunningServer,
                                                                   tmp_path: Path) -> None:
    sfn = sm_server.client()
    beat = json.loads(json.dumps(APPROVAL))
    beat["States"]["Ask"].update(HeartbeatSeconds=1, Catch=[
        {"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "Later"}])
    beat["States"]["Later"] = {"Type": "Wait", "Seconds": 60, "Next": "Done"}
    machine = create(sfn, "beat", beat)
    arn = sfn.start_execution(stateMachineArn=machine, input='{"order": 5}')["executionArn"]
    token = read_token(tmp_path / "tokens", "Ask")["token"]
    deadline = time.monotonic() + 30
    while not any(e["type"] == "WaitStateEntered" for e in
                  sfn.get_execution_history(executionArn=arn)["events"]):
        assert time.monotonic() < deadline, "the heartbeat timeout was not caught"
        time.sleep(0.1)
    with pytest.raises(sfn.exceptions.TaskTimedOut) as caught:
        sfn.send_task_success(taskToken=token, output="{}")
    assert caught.value.response["Error"]["Message"] == "Task Timed Out"
    with pytest.raises(sfn.exceptions.TaskTimedOut):
        sfn.send_task_heartbeat(taskToken=token)
    sfn.stop_execution(executionArn=arn)
