"""``sm serve --no-worker`` with a separate ``sm worker`` process (same database, same policy
flags) running the machines created through the API: resource-map Tasks, callbacks and
activities; a worker without the map fails such an execution with States.Runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.server.conftest import (
    FLOWS,
    RunningServer,
    config,
    next_activity_task,
    read_token,
    wait_status,
)

ROLE = "arn:aws:iam::123456789012:role/StepFunctions"
FLOW = {"StartAt": "Double", "States": {
    "Double": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
               "Parameters": {"value.$": "$.n"}, "Next": "Ask"},
    "Ask": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"doubled.$": "$.value"}, "Next": "Review"},
    "Review": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:review",
               "End": True}}}


@contextmanager
def worker(db: str, *flags: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen([sys.executable, "-m", "statemachine.cli", "worker", "--db", db,
                                "--poll", "0.1", *flags], stderr=subprocess.PIPE, text=True,
                               env=os.environ.copy())
    try:
        yield process
    finally:
        process.terminate()
        process.communicate(timeout=60)


def test_a_worker_process_runs_api_machines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    monkeypatch.setenv("SM_TEST_TOKENS", str(tokens))
    settings = config(tmp_path, worker=False)
    with RunningServer(settings) as server, worker(str(settings.db), "--resources",
                                                   str(FLOWS / "resources.yaml")):
        sfn = server.client()
        sfn.create_activity(name="review")
        machine = sfn.create_state_machine(name="flow", definition=json.dumps(FLOW),
                                           roleArn=ROLE)["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, input='{"n": 4}')["executionArn"]
        sent = read_token(tokens, "Ask")
        assert sent["input"] == {"doubled": 8}
        sfn.send_task_success(taskToken=sent["token"], output='{"approved": true}')
        task = next_activity_task(sfn, FLOW["States"]["Review"]["Resource"])
        assert json.loads(task["input"]) == {"approved": True}
        sfn.send_task_success(taskToken=task["taskToken"], output='{"reviewed": 1}')
        done = wait_status(sfn, arn)
        assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"reviewed": 1}


def test_a_worker_without_the_map_fails_the_execution(tmp_path: Path) -> None:
    settings = config(tmp_path, worker=False)
    with RunningServer(settings) as server, worker(str(settings.db)):
        sfn = server.client()
        machine = sfn.create_state_machine(name="flow", definition=json.dumps(FLOW),
                                           roleArn=ROLE)["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, input='{"n": 4}')["executionArn"]
        done = wait_status(sfn, arn)
        assert (done["status"], done["error"]) == ("FAILED", "States.Runtime")
        assert "lambda:invoke" in done["cause"]
