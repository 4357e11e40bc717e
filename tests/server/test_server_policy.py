"""The resource policy: API-created machines run the python: modules the operator listed
(and their submodules), nothing else; a machine stored under a looser policy cannot run a
refused resource after a restart with a stricter one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from statemachine.server.policy import ResourcePolicy
from tests.server.conftest import RunningServer, config, wait_status

ROLE = "arn:aws:iam::123456789012:role/StepFunctions"


def flow(resource: str) -> str:
    return json.dumps({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource,
                                                         "End": True}}})


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "modules"
    (folder / "h3allowed").mkdir(parents=True)
    (folder / "h3allowed" / "__init__.py").write_text("")
    (folder / "h3allowed" / "sub.py").write_text("def f(event):\n    return {'got': event}\n")
    (folder / "h3other.py").write_text("def f(event):\n    return 'should not run'\n")
    monkeypatch.syspath_prepend(str(folder))
    return folder


def test_listed_python_modules_run_others_are_refused(tmp_path: Path, modules: Path) -> None:
    policy = ResourcePolicy(python_modules=("h3allowed",))
    with RunningServer(config(tmp_path, policy=policy)) as server:
        sfn = server.client()
        arn = sfn.create_state_machine(name="ok", definition=flow("python:h3allowed.sub:f"),
                                       roleArn=ROLE)["stateMachineArn"]
        started = sfn.start_execution(stateMachineArn=arn, input='{"a": 1}')["executionArn"]
        done = wait_status(sfn, started)
        assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"got": {"a": 1}}
        with pytest.raises(sfn.exceptions.InvalidDefinition) as caught:
            sfn.create_state_machine(name="no", definition=flow("python:h3other:f"), roleArn=ROLE)
        message = caught.value.response["Error"]["Message"]
        assert "python:h3other:f" in message and "h3allowed" in message


def test_a_stricter_policy_applies_to_stored_machines(tmp_path: Path, modules: Path) -> None:
    with RunningServer(config(tmp_path, policy=ResourcePolicy(python_modules=("h3other",)))) as s:
        arn = s.client().create_state_machine(name="m", definition=flow("python:h3other:f"),
                                              roleArn=ROLE)["stateMachineArn"]
    with RunningServer(config(tmp_path)) as server:  # the default policy: no python: modules
        sfn = server.client()
        started = sfn.start_execution(stateMachineArn=arn)["executionArn"]
        done = wait_status(sfn, started)
        assert (done["status"], done["error"]) == ("FAILED", "States.Runtime")
        assert "python:h3other:f" in done["cause"]
        events = sfn.get_execution_history(executionArn=started)["events"]
        assert [e["type"] for e in events] == ["ExecutionStarted", "ExecutionFailed"]
