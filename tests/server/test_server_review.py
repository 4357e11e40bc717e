"""Review findings: requests a broken or hostile client sends that once answered 500 (lone
UTF-16 surrogates, JSON nested past the parser's recursion limit), and a browser opening the
console without the access token."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import RunningServer, config
from tests.server.test_server_protocol import aws_error, post

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:m"
DEEP = "[" * 100_000 + "]" * 100_000


def _create(server: RunningServer) -> None:
    server.client().create_state_machine(
        name="m", roleArn="arn:aws:iam::123456789012:role/r",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))


@pytest.mark.parametrize(("operation", "body", "code"), [
    # a lone surrogate escape in the request itself (not UTF-8: AWS refuses the body)
    ("CreateActivity", '{"name": "a\\ud800b"}', "SerializationException"),
    ("DescribeExecution", '{"executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:\\udc00"}',
     "SerializationException"),
    ("TagResource", '{"resourceArn": "' + MACHINE + '", "tags": [{"key": "\\ud800", "value": "v"}]}',
     "SerializationException"),
    # the same byte-encoded (UTF-8 of a surrogate is not UTF-8)
    ("CreateActivity", b'{"name": "a\xed\xa0\x80b"}', "SerializationException"),
    # one inside the JSON texts the request carries
    ("StartExecution", json.dumps({"stateMachineArn": MACHINE, "input": '"\\ud800"'}),
     "InvalidExecutionInput"),
    ("CreateStateMachine", json.dumps({
        "name": "s", "roleArn": "arn:aws:iam::123456789012:role/r", "definition": json.dumps(
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}).replace(
            '"Pass"', '"Pass", "Result": "\\ud800"')}), "InvalidDefinition"),
    # nesting deeper than Python's parser recurses
    ("ListStateMachines", DEEP, "SerializationException"),
    ("StartExecution", json.dumps({"stateMachineArn": MACHINE, "input": "[" * 5000 + "]" * 5000}),
     "InvalidExecutionInput"),
    ("CreateStateMachine", json.dumps({"name": "d", "roleArn": "arn:aws:iam::123456789012:role/r",
                                       "definition": '{"StartAt": "P", "States": {"P": {"Type": '
                                       '"Pass", "End": true, "Result": ' + "[" * 5000 + "]" * 5000
                                       + "}}}"}), "InvalidDefinition"),
])
def test_hostile_json_gets_a_4xx(sm_server: RunningServer, operation: str, body: str | bytes,
                                 code: str) -> None:
    _create(sm_server)
    status, got, message = aws_error(post(sm_server, operation, body))
    assert (status, got) == (400, code), message
    assert sm_server.client().list_state_machines()["stateMachines"][0]["name"] == "m"


def test_send_task_success_with_a_hostile_output(sm_server: RunningServer) -> None:
    for output in ('"\\ud800"', "[" * 5000 + "]" * 5000):
        status, code, message = aws_error(post(sm_server, "SendTaskSuccess", json.dumps(
            {"taskToken": "x" * 20, "output": output})))
        assert (status, code) == (400, "InvalidOutput"), message


def test_browser_without_the_token_gets_a_page(tmp_path: Path) -> None:
    token = "correct-horse-battery-staple"
    with RunningServer(config(tmp_path, token=token)) as server:
        page = httpx.get(server.url + "/", headers={
            "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        assert "content-disposition" not in page.headers
        assert "?token=" in page.text and token not in page.text
        assert "not this server's" not in page.text
        wrong = httpx.get(server.url + "/?token=not-the-token", headers={"accept": "text/html"})
        assert wrong.status_code == 403 and "not this server's" in wrong.text
        # a script (no text/html in Accept) still gets AWS's error shape
        assert aws_error(httpx.get(server.url + "/"))[:2] == (403, "UnrecognizedClientException")
        # with the token the console opens
        opened = httpx.get(server.url + f"/?token={token}", follow_redirects=True)
        assert opened.status_code == 200 and "console" in opened.text


def test_banner_with_a_token_says_how_to_open_the_console() -> None:
    from cli.serve import banner
    from statemachine.server.config import ServerConfig

    token = "correct-horse-battery-staple"
    text = banner(ServerConfig(db="x.db", host="0.0.0.0", port=9001, token=token,
                               allow_remote=True))
    assert "http://0.0.0.0:9001/?token=" in text
    assert token not in text  # the banner may land in logs
    assert "--endpoint-url http://0.0.0.0:9001" in text


@pytest.mark.parametrize("body", [DEEP.encode(), json.dumps({"definition": DEEP[99_000:101_000]}).encode()])
def test_console_layout_of_over_deep_json_is_a_400(sm_server: RunningServer, body: bytes) -> None:
    response = httpx.post(sm_server.url + "/console/api/layout", content=body, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == "ValidationException"


def _pass(**extra: object) -> dict[str, object]:
    return {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True, **extra}}}


@pytest.mark.parametrize(("definition", "code"), [
    ("StartAt: P\nStates: {P: {Type: Pass, End: true}}", "INVALID_JSON_DESCRIPTION"),  # YAML
    (json.dumps(_pass(Result="x")).replace('"x"', '"\\ud800"'), "INVALID_JSON_DESCRIPTION"),
    (json.dumps({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "python:os:system",
                                                   "End": True}}}), "INVALID_RESOURCE"),
])
def test_validate_fails_what_create_refuses(sm_server: RunningServer, definition: str,
                                            code: str) -> None:
    """AWS: the result is OK when the definition "can be successfully created", FAIL when it
    has errors "that would prevent you from creating" the machine."""
    sfn = sm_server.client()
    with pytest.raises(sfn.exceptions.InvalidDefinition):
        sfn.create_state_machine(name="v", roleArn="arn:aws:iam::123456789012:role/r",
                                 definition=definition)
    found = sfn.validate_state_machine_definition(definition=definition)
    assert found["result"] == "FAIL"
    assert [d["code"] for d in found["diagnostics"]] == [code]
    assert all(d["severity"] == "ERROR" for d in found["diagnostics"])


def test_validate_ok_for_what_create_accepts(sm_server: RunningServer) -> None:
    sfn = sm_server.client()
    definition = json.dumps({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}}})  # in the map
    assert sfn.validate_state_machine_definition(definition=definition)["result"] == "OK"
    sfn.create_state_machine(name="ok", roleArn="arn:aws:iam::123456789012:role/r",
                             definition=definition)


@pytest.mark.parametrize("role", ["nope", "arn:aws:iam::aws:policy/AWSBatchFullAccess",
                                  "arn:aws:states:us-east-1:123456789012:stateMachine:m"])
def test_a_role_arn_that_is_not_a_role_is_invalid_arn(sm_server: RunningServer, role: str) -> None:
    """AWS: ``InvalidArn``, ``Invalid Role Arn: '<roleArn>'``, at Create and Update."""
    sfn = sm_server.client()
    definition = json.dumps(_pass())
    with pytest.raises(sfn.exceptions.InvalidArn, match="Invalid Role Arn"):
        sfn.create_state_machine(name="r", roleArn=role, definition=definition)
    _create(sm_server)
    with pytest.raises(sfn.exceptions.InvalidArn, match="Invalid Role Arn"):
        sfn.update_state_machine(stateMachineArn=MACHINE, roleArn=role)
    assert sfn.list_state_machines()["stateMachines"][0]["name"] == "m"


def test_an_execution_of_a_deleted_machine_is_not_redrivable(sm_server: RunningServer) -> None:
    """AWS lists "State machine is in DELETING status" among the reasons an execution cannot be
    redriven; a deleted machine's execution runs to its end but is not redriven."""
    from tests.server.conftest import next_activity_task, wait_status

    sfn = sm_server.client()
    activity = sfn.create_activity(name="review")["activityArn"]
    machine = sfn.create_state_machine(
        name="doomed", roleArn="arn:aws:iam::123456789012:role/r", definition=json.dumps(
            {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": activity, "End": True}}})
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    task = next_activity_task(sfn, activity, worker_name="w")
    sfn.delete_state_machine(stateMachineArn=machine)
    sfn.send_task_failure(taskToken=task["taskToken"], error="Rejected", cause="no")
    assert wait_status(sfn, execution)["status"] == "FAILED"
    with pytest.raises(sfn.exceptions.ExecutionNotRedrivable):
        sfn.redrive_execution(executionArn=execution)
    assert sfn.describe_execution(executionArn=execution)["status"] == "FAILED"


def test_execution_started_event_names_the_machines_role(sm_server: RunningServer) -> None:
    """AWS: ExecutionStarted's ``roleArn`` is the role the state machine was created with."""
    sfn = sm_server.client()
    role = "arn:aws:iam::123456789012:role/service-role/OrdersRole"
    machine = sfn.create_state_machine(name="roles", roleArn=role,
                                       definition=json.dumps(_pass()))["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    first = sfn.get_execution_history(executionArn=execution)["events"][0]
    assert first["type"] == "ExecutionStarted"
    assert first["executionStartedEventDetails"]["roleArn"] == role


@pytest.fixture
def leaky(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An allowed module that, as most do, imports others (``os``, ``subprocess``)."""
    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / "r2allowed.py").write_text(
        "import os\nimport subprocess\nfrom json import dumps\n\n"
        "class Tools:\n    @staticmethod\n    def echo(event):\n        return event\n\n\n"
        "def f(event):\n    return {'got': event}\n")
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.mark.parametrize("resource", [
    "python:r2allowed:os.system",            # a module the allowed one imported
    "python:r2allowed:subprocess.getoutput",
    "python:r2allowed:dumps",                # a function imported from elsewhere
    "python:r2allowed:f.__globals__.get",    # dunder traversal
    "python:r2allowed:Tools.__init_subclass__",
])
def test_an_allowed_module_does_not_open_the_modules_it_imports(
        tmp_path: Path, leaky: Path, resource: str) -> None:
    """--allow-python MODULE allows MODULE's own functions, not whatever MODULE imported:
    ``python:handlers:os.system`` would run any command a client sends."""
    from statemachine.server.policy import ResourcePolicy

    with RunningServer(config(tmp_path, policy=ResourcePolicy(python_modules=("r2allowed",)))) as s:
        sfn = s.client()
        definition = json.dumps({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": resource, "End": True}}})
        with pytest.raises(sfn.exceptions.InvalidDefinition) as caught:
            sfn.create_state_machine(name="x", roleArn="arn:aws:iam::123456789012:role/r",
                                     definition=definition)
        assert resource in caught.value.response["Error"]["Message"]
        for fine in ("python:r2allowed:f", "python:r2allowed:Tools.echo"):
            sfn.create_state_machine(name=fine.rsplit(":", 1)[1].replace(".", "-"),
                                     roleArn="arn:aws:iam::123456789012:role/r",
                                     definition=definition.replace(resource, fine))
