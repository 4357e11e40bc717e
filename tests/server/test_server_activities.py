"""Activities through real boto3 against a real server: Create/Describe/List/DeleteActivity,
GetActivityTask (a long poll answered when work is queued, empty after the poll time),
activity ARNs as Task resources answered with SendTaskSuccess/Failure/Heartbeat, and the
Activity* history events."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from tests.server.conftest import RunningServer, next_activity_task, wait_status

ROLE = "arn:aws:iam::123456789012:role/StepFunctions"
ACTIVITY = "arn:aws:states:us-east-1:123456789012:activity:"


def machine(activity_arn: str) -> str:
    return json.dumps({"StartAt": "Review", "States": {
        "Review": {"Type": "Task", "Resource": activity_arn, "HeartbeatSeconds": 60,
                   "TimeoutSeconds": 300, "Next": "Done"},
        "Done": {"Type": "Pass", "End": True}}})


def test_activity_crud(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    created = sfn.create_activity(name="review", tags=[{"key": "k", "value": "v"}])
    assert created["activityArn"] == ACTIVITY + "review"
    assert sfn.create_activity(name="review")["creationDate"] == created["creationDate"]
    sfn.create_activity(name="approve")
    described = sfn.describe_activity(activityArn=ACTIVITY + "review")
    assert (described["name"], described["creationDate"]) == ("review", created["creationDate"])
    listed = sfn.list_activities(maxResults=1)
    assert [a["name"] for a in listed["activities"]] == ["approve"]
    rest = sfn.list_activities(maxResults=1, nextToken=listed["nextToken"])
    assert [a["name"] for a in rest["activities"]] == ["review"]
    assert sfn.list_tags_for_resource(resourceArn=ACTIVITY + "review")["tags"] == [
        {"key": "k", "value": "v"}]
    sfn.delete_activity(activityArn=ACTIVITY + "review")
    with pytest.raises(sfn.exceptions.ActivityDoesNotExist) as caught:
        sfn.describe_activity(activityArn=ACTIVITY + "review")
    assert caught.value.response["Error"]["Message"] == (
        f"Activity Does Not Exist: '{ACTIVITY}review'")
    with pytest.raises(sfn.exceptions.InvalidName):
        sfn.create_activity(name="bad name")
    with pytest.raises(sfn.exceptions.ActivityDoesNotExist):
        sfn.get_activity_task(activityArn=ACTIVITY + "review")


def test_get_activity_task_long_poll_is_empty_after_the_poll_time(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    arn = sfn.create_activity(name="idle")["activityArn"]
    began = time.monotonic()
    found = sfn.get_activity_task(activityArn=arn, workerName="w")
    assert "taskToken" not in found or not found.get("taskToken")
    assert time.monotonic() - began >= sm_server.config.long_poll * 0.9


def test_activity_task_runs_through_a_worker(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    activity = sfn.create_activity(name="review")["activityArn"]
    flow = sfn.create_state_machine(name="reviewed", definition=machine(activity),
                                    roleArn=ROLE)["stateMachineArn"]
    got: dict[str, Any] = {}

    def poll() -> None:  # a worker already waiting when the work is queued
        got.update(next_activity_task(sm_server.client(), activity, worker_name="w1"))

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.2)
    arn = sfn.start_execution(stateMachineArn=flow, input='{"doc": 1}')["executionArn"]
    poller.join(90)  # a bound: next_activity_task gives up after 60 s
    assert json.loads(got["input"]) == {"doc": 1}
    sfn.send_task_heartbeat(taskToken=got["taskToken"])
    sfn.send_task_success(taskToken=got["taskToken"], output='{"ok": true}')
    done = wait_status(sfn, arn)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"ok": True}
    types = [e["type"] for e in sfn.get_execution_history(executionArn=arn)["events"]]
    assert types[2:5] == ["ActivityScheduled", "ActivityStarted", "ActivitySucceeded"]
    events = sfn.get_execution_history(executionArn=arn)["events"]
    scheduled = events[2]["activityScheduledEventDetails"]
    assert scheduled["resource"] == activity and json.loads(scheduled["input"]) == {"doc": 1}
    assert scheduled["heartbeatInSeconds"] == 60 and scheduled["timeoutInSeconds"] == 300

    # queued before anyone polls; answered with a failure
    arn = sfn.start_execution(stateMachineArn=flow, input='{"doc": 2}')["executionArn"]
    task = next_activity_task(sfn, activity, worker_name="w2")
    assert json.loads(task["input"]) == {"doc": 2}
    sfn.send_task_failure(taskToken=task["taskToken"], error="Rejected", cause="no")
    done = wait_status(sfn, arn)
    assert (done["status"], done["error"]) == ("FAILED", "Rejected")
    failed = [e for e in sfn.get_execution_history(executionArn=arn)["events"]
              if e["type"] == "ActivityFailed"]
    assert failed[0]["activityFailedEventDetails"] == {"error": "Rejected", "cause": "no"}
    assert sfn.get_activity_task(activityArn=activity).get("taskToken") in (None, "")
