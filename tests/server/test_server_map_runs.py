"""Distributed Map runs through real boto3: ListMapRuns, DescribeMapRun, and ListExecutions
of a map run's child executions."""

from __future__ import annotations

import json

import pytest

from tests.server.conftest import RunningServer, wait_status

ROLE = "arn:aws:iam::123456789012:role/StepFunctions"
FANOUT = {"StartAt": "Fan", "States": {"Fan": {
    "Type": "Map", "Label": "Fanout", "ItemsPath": "$.items", "MaxConcurrency": 2,
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                      "StartAt": "Work", "States": {"Work": {"Type": "Pass", "End": True}}},
    "End": True}}}


def test_map_runs(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    flow = sfn.create_state_machine(name="fan", definition=json.dumps(FANOUT),
                                    roleArn=ROLE)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=flow, input='{"items": [1, 2, 3]}')["executionArn"]
    done = wait_status(sfn, arn)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == [1, 2, 3]
    runs = sfn.list_map_runs(executionArn=arn)["mapRuns"]
    assert len(runs) == 1 and runs[0]["executionArn"] == arn
    run = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
    assert run["status"] == "SUCCEEDED" and run["maxConcurrency"] == 2
    assert run["itemCounts"]["succeeded"] == 3 and run["executionCounts"]["total"] == 3
    children = sfn.list_executions(mapRunArn=runs[0]["mapRunArn"])["executions"]
    assert len(children) == 3 and all(c["status"] == "SUCCEEDED" for c in children)
    assert all(c["mapRunArn"] == runs[0]["mapRunArn"] for c in children)
    top = sfn.list_executions(stateMachineArn=flow)["executions"]
    assert [e["executionArn"] for e in top] == [arn]  # children are not listed with the parent
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"] + "0")
