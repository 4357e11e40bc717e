"""A few operations through the real AWS CLI (awscli from PyPI, the ``aws`` program beside
this Python or on PATH) against a real server, with dummy credentials and region."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import RunningServer, read_token, wait_status

DEFINITION = {"StartAt": "Ask", "States": {
    "Ask": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"order.$": "$.order"}, "Next": "Done"},
    "Done": {"Type": "Pass", "End": True}}}


def aws_program() -> str:
    beside = Path(sys.executable).with_name("aws")
    found = str(beside) if beside.exists() else shutil.which("aws")
    if found is None:
        pytest.skip("the AWS CLI is not installed (pip install awscli, in the test extra)")
    return found


def aws(server: RunningServer, tmp_path: Path, *args: str) -> Any:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "sm", "AWS_SECRET_ACCESS_KEY": "sm",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_PAGER": "",
           "AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}
    done = subprocess.run([aws_program(), "stepfunctions", "--endpoint-url", server.url,
                           "--output", "json", *args], capture_output=True, text=True,
                          env=env, timeout=120)
    if done.returncode != 0:
        return {"exit": done.returncode, "stderr": done.stderr}
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_aws_cli(sm_server: RunningServer, tmp_path: Path) -> None:
    aws_program()
    created = aws(sm_server, tmp_path, "create-state-machine", "--name", "cli",
                  "--definition", json.dumps(DEFINITION),
                  "--role-arn", "arn:aws:iam::123456789012:role/r")
    arn = created["stateMachineArn"]
    assert arn.endswith(":stateMachine:cli")
    listed = aws(sm_server, tmp_path, "list-state-machines")
    assert [m["name"] for m in listed["stateMachines"]] == ["cli"]
    started = aws(sm_server, tmp_path, "start-execution", "--state-machine-arn", arn,
                  "--name", "one", "--input", '{"order": 3}')
    token = read_token(tmp_path / "tokens", "Ask")["token"]
    assert aws(sm_server, tmp_path, "send-task-success", "--task-token", token,
               "--task-output", '{"ok": 1}') == {}
    done = wait_status(sm_server.client(), started["executionArn"])
    assert done["status"] == "SUCCEEDED"
    described = aws(sm_server, tmp_path, "describe-execution", "--execution-arn",
                    started["executionArn"])
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"ok": 1}
    history = aws(sm_server, tmp_path, "get-execution-history", "--execution-arn",
                  started["executionArn"], "--reverse-order")
    assert history["events"][0]["type"] == "ExecutionSucceeded"
    executions = aws(sm_server, tmp_path, "list-executions", "--state-machine-arn", arn,
                     "--status-filter", "SUCCEEDED")
    assert [e["name"] for e in executions["executions"]] == ["one"]
    missing = aws(sm_server, tmp_path, "describe-state-machine", "--state-machine-arn",
                  arn + "-nope")
    assert missing["exit"] != 0 and "StateMachineDoesNotExist" in missing["stderr"]
