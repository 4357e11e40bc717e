"""Each handler inside a running state machine (public API): Retry/Catch on its error names,
timeouts and aborts that leave nothing running, callbacks with task tokens."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import statemachine
from statemachine import ResourceNotFoundError
from statemachine.resources import MockError, MockResource
from tests.fixtures.clock import ManualClock

LAMBDAS = Path(__file__).resolve().parents[2] / "fixtures" / "lambdas"


def task(resource: str, **fields: Any) -> dict[str, Any]:
    """A one-Task machine whose errors are caught into $.caught."""
    state = {"Type": "Task", "Resource": resource, "End": True, **fields}
    state.setdefault("Catch", [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Caught"}])
    if not state["Catch"]:  # Catch=[] asks for a machine that lets the error fail it
        del state["Catch"]
        return {"StartAt": "T", "States": {"T": state}}
    return {"StartAt": "T", "States": {"T": state, "Caught": {"Type": "Pass", "End": True}}}


def test_python_handler_error_is_retried_and_caught_by_class_name(tmp_path: Path) -> None:
    (tmp_path / "flaky_rt7.py").write_text(
        "class Flaky(Exception):\n    pass\n\nCALLS = []\n\n"
        "def call(event):\n    CALLS.append(event)\n    raise Flaky('try again')\n")
    (tmp_path / "flow.json").write_text(json.dumps(task(
        "python:flaky_rt7:call",
        Retry=[{"ErrorEquals": ["Flaky"], "MaxAttempts": 2, "IntervalSeconds": 1}],
        Catch=[{"ErrorEquals": ["Flaky"], "ResultPath": "$.caught", "Next": "Caught"}])))
    execution = statemachine.load(tmp_path / "flow.json").run({"n": 1}, virtual_time=True)
    assert execution.status == "SUCCEEDED"
    caught = execution.output["caught"]
    assert caught["Error"] == "Flaky"
    assert json.loads(caught["Cause"])["errorMessage"] == "try again"
    types = [e["type"] for e in execution.history]
    assert types.count("TaskFailed") == 3  # first attempt + 2 retries


def test_functions_registered_in_code() -> None:
    def add_tax(order: dict[str, Any]) -> dict[str, Any]:
        return {"total": round(order["net"] * 1.2, 2)}

    machine = statemachine.load(task("tax", ResultPath="$.tax"), resources={"tax": add_tax})
    assert machine.run({"net": 10}).output == {"net": 10, "tax": {"total": 12.0}}


def test_unresolvable_resource_fails_load_naming_what_exists() -> None:
    with pytest.raises(ResourceNotFoundError) as info:
        statemachine.load(task("arn:aws:states:::sqs:sendMessage"))
    assert "arn:aws:states:::sqs:sendMessage" in str(info.value) and "shell" in str(info.value)
    with pytest.raises(ResourceNotFoundError, match="no_such_module_rt8"):
        statemachine.load(task("python:no_such_module_rt8:f"))


def test_shell_command_not_found_is_caught_by_name() -> None:
    definition = task("shell", Parameters={"Command": ["no-such-command-rt9"]},
                      Catch=[{"ErrorEquals": ["Shell.CommandNotFound"], "ResultPath": "$.caught",
                              "Next": "Caught"}])
    execution = statemachine.load(definition).run({})
    assert execution.status == "SUCCEEDED"
    assert execution.output["caught"]["Error"] == "Shell.CommandNotFound"


def test_shell_timeout_fails_with_states_timeout_and_kills_the_process(tmp_path: Path) -> None:
    marker = tmp_path / "finished"
    definition = task("shell", TimeoutSeconds=1, Catch=[],
                      Parameters={"Command": f"sleep 20 && touch {marker}", "Shell": True})
    execution = statemachine.load(definition).run({})
    assert execution.status == "FAILED"
    assert execution.error == "States.Timeout"
    assert [e["type"] for e in execution.history][-2:] == ["TaskTimedOut", "ExecutionFailed"]
    assert not marker.exists()


def test_abort_stops_a_running_shell_task(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    definition = task("shell", Parameters={"Command": f"echo $$ > {pidfile}; exec sleep 30",
                                           "Shell": True})
    execution = statemachine.load(definition).start({})
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    pid = int(pidfile.read_text())
    execution.abort()
    execution.wait(10)
    assert execution.status == "ABORTED"
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_http_task_against_a_closed_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    definition = task("arn:aws:states:::http:invoke",
                      Parameters={"ApiEndpoint": f"http://127.0.0.1:{port}/", "Method": "GET"},
                      Retry=[{"ErrorEquals": ["States.Http.Socket"], "MaxAttempts": 1}])
    execution = statemachine.load(definition).run({}, virtual_time=True)
    assert execution.output["caught"]["Error"] == "States.Http.Socket"
    assert [e["type"] for e in execution.history].count("TaskFailed") == 2


def test_http_status_error_is_caught(http_server: Any) -> None:
    definition = task("arn:aws:states:::http:invoke",
                      Parameters={"ApiEndpoint": http_server.url + "/status/404", "Method": "GET"},
                      Catch=[{"ErrorEquals": ["States.Http.StatusCode.404"], "ResultPath": "$.caught",
                              "Next": "Caught"}])
    execution = statemachine.load(definition).run({})
    assert execution.output["caught"]["Error"] == "States.Http.StatusCode.404"


def test_lambda_function_error_through_boto3(lambda_endpoint: Any) -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:fails"
    execution = statemachine.load(task(arn, Catch=[])).run({})
    assert (execution.status, execution.error) == ("FAILED", "Exception")
    assert json.loads(execution.cause)["errorMessage"] == "Some exception was raised."
    types = [e["type"] for e in execution.history]
    assert types == ["ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled",
                     "LambdaFunctionStarted", "LambdaFunctionFailed", "ExecutionFailed"]


def test_resource_map_file_in_load(tmp_path: Path) -> None:
    (tmp_path / "map.yaml").write_text(
        "lambda_functions:\n"
        f"  greeter: {{handler: handler.handler, code: {LAMBDAS / 'echo_function'}}}\n")
    definition = task("arn:aws:states:::lambda:invoke", Parameters={"FunctionName": "greeter"},
                      OutputPath="$.Payload")
    execution = statemachine.load(definition, resource_map=tmp_path / "map.yaml").run({})
    assert execution.output == {"Return": "HelloWorld"}


def test_mock_resource_drives_retry() -> None:
    mock = MockResource([MockError("Busy"), {"done": True}])
    definition = task("svc", Retry=[{"ErrorEquals": ["Busy"], "IntervalSeconds": 1}])
    execution = statemachine.load(definition, resources={"svc": mock}).run({"x": 1}, virtual_time=True)
    assert execution.output == {"done": True}
    assert mock.inputs == [{"x": 1}, {"x": 1}]


# -- callbacks -------------------------------------------------------------------------------------
def _callback_machine(**fields: Any) -> tuple[statemachine.StateMachine, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def request_approval(event: dict[str, Any]) -> None:
        seen.append(event)

    definition = task("approval.waitForTaskToken", Catch=[],
                      Parameters={"order.$": "$.order", "token.$": "$$.Task.Token"}, **fields)
    return statemachine.load(definition, resources={"approval": request_approval}), seen


def _waiting_token(execution: Any) -> str:
    deadline = time.monotonic() + 10
    while not execution.task_tokens and time.monotonic() < deadline:
        time.sleep(0.01)
    (token,) = execution.task_tokens
    return token


def test_wait_for_task_token_success() -> None:
    machine, seen = _callback_machine()
    execution = machine.start({"order": 7})
    token = _waiting_token(execution)
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:  # the token is registered before the call
        time.sleep(0.01)
    assert seen == [{"order": 7, "token": token}]
    assert execution.status == "RUNNING"
    execution.send_task_success(token, {"approved": True})
    assert execution.wait(10).status == "SUCCEEDED"
    assert execution.output == {"approved": True}


def test_wait_for_task_token_failure() -> None:
    machine, _ = _callback_machine()
    execution = machine.start({"order": 8})
    execution.send_task_failure(_waiting_token(execution), "Rejected", "not in stock")
    execution.wait(10)
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "Rejected", "not in stock")
    with pytest.raises(statemachine.ExecutionError):
        execution.send_task_success("no-such-token", {})


def test_heartbeat_timeout_without_heartbeats() -> None:
    machine, _ = _callback_machine(HeartbeatSeconds=1)
    execution = machine.run({"order": 9}, virtual_time=True)
    assert (execution.status, execution.error) == ("FAILED", "States.HeartbeatTimeout")


def test_heartbeats_keep_a_callback_alive() -> None:
    machine, _ = _callback_machine(HeartbeatSeconds=1)
    clock = ManualClock()  # each beat 0.9 s after the last, however slow the machine
    execution = machine.start({"order": 10}, clock=clock)
    token = _waiting_token(execution)
    clock.wait_for_sleeper(within=1)  # the HeartbeatSeconds watchdog
    for _ in range(4):  # 3.6 s in all, longer than HeartbeatSeconds
        clock.advance(0.9)
        execution.send_task_heartbeat(token)
    execution.send_task_success(token, "ok")
    assert execution.wait(10).status == "SUCCEEDED"
    assert execution.output == "ok"


def test_lambda_invoke_wait_for_task_token_with_a_mapped_function(tmp_path: Path) -> None:
    (tmp_path / "notify.py").write_text(
        "import json, pathlib\n\n"
        "def handler(event, context):\n"
        "    pathlib.Path(event['outbox']).write_text(json.dumps(event))\n"
        "    return {'queued': True}\n")
    definition = task("arn:aws:states:::lambda:invoke.waitForTaskToken", Catch=[],
                      Parameters={"FunctionName": "notify",
                                  "Payload": {"token.$": "$$.Task.Token", "outbox.$": "$.outbox"}})
    machine = statemachine.load(definition, resource_map={
        "base_dir": str(tmp_path), "lambda_functions": {"notify": "notify:handler"}})
    outbox = tmp_path / "outbox.json"
    execution = machine.start({"outbox": str(outbox)})
    token = _waiting_token(execution)
    deadline = time.monotonic() + 10
    while not (outbox.exists() and outbox.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert json.loads(outbox.read_text())["token"] == token
    execution.send_task_success(token, {"approved": "yes"})
    assert execution.wait(10).output == {"approved": "yes"}
    assert [e["type"] for e in execution.history][2:6] == [
        "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded"]


def test_readme_custom_handler_example() -> None:
    from statemachine import StatesError
    from statemachine.resources import TaskRequest

    class Queues:  # the README's example, verbatim
        def __init__(self) -> None:
            self.items: dict[str, list] = {}

        def __call__(self, request: TaskRequest) -> dict:
            name = request.resource.split(":")[1]
            if name == "closed":
                raise StatesError("Queue.Closed", f"queue {name} does not accept messages")
            self.items.setdefault(name, []).append(request.input)
            return {"position": len(self.items[name])}

    queues = Queues()
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "queue:orders", "ResultPath": "$.a", "Next": "B"},
        "B": {"Type": "Task", "Resource": "queue:closed", "End": True,
              "Catch": [{"ErrorEquals": ["Queue.Closed"], "ResultPath": "$.b", "Next": "C"}]},
        "C": {"Type": "Pass", "End": True}}}
    execution = statemachine.load(definition, resources={"queue:*": queues}).run({"id": 1})
    assert execution.output == {"id": 1, "a": {"position": 1},
                                "b": {"Error": "Queue.Closed", "Cause": "queue closed does not accept messages"}}
    assert queues.items == {"orders": [{"id": 1}]}


def test_a_timed_out_python_function_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    (tmp_path / "stuck_rt11.py").write_text("import time\n\ndef wait(event):\n    time.sleep(600)\n")
    (tmp_path / "flow.json").write_text(json.dumps(task("python:stuck_rt11:wait", TimeoutSeconds=1,
                                                        Catch=[])))
    script = ("import statemachine, sys\n"
              f"e = statemachine.load({str(tmp_path / 'flow.json')!r}).run({{}})\n"
              "print(e.status, e.error)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)  # a hang would raise TimeoutExpired
    assert done.stdout.split() == ["FAILED", "States.Timeout"]
