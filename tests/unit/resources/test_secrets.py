"""Secrets never reach a cause, so never the history, ``Execution.to_dict()`` / ``sm run --json``,
``sm run``'s stderr or an exception's text. Secrets are planted in a connections file, in
environment variables a connection reads and in an AWS credentials file; then every failure kind
of the HTTP Task (socket error, bad status, malformed file, bad header, redirect, timeouts) and
of a Lambda Task runs against a real HTTP server on 127.0.0.1, and every output is searched for
each secret in every form it could be written in (as is, URL-encoded, JSON-escaped, base64)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

import statemachine
from statemachine.errors import StatesError
from statemachine.resources.connections import ConnectionStore
from statemachine.resources.http import HttpInvokeHandler
from tests.fixtures.calls import call

ARN = "arn:aws:events:us-east-1:123456789012:connection/Api/81210c42-8af1-456b-9c4a-6ff02fc664ac"
SECRETS = {
    "query": "q-secret-9f8e/7d+1",     # characters that change when URL-encoded
    "key": "k-secret-1a2b3c",
    "header": "h-secret-77aa",
    "password": "p-secret-4455",
    "token": "t-secret-env-6677",     # read from the environment
    "body": "b-secret-\"quoted\"",     # changes when JSON-escaped
}
AWS_SECRET = "aws-secret-0c0ffee0c0ffee"


def forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
            base64.b64encode(f"ann:{secret}".encode()).decode()}


def assert_hidden(*texts: object) -> None:
    blob = "\n".join(t if isinstance(t, str) else json.dumps(t, default=str) for t in texts)
    for secret in [*SECRETS.values(), AWS_SECRET]:
        for form in forms(secret):
            assert form not in blob, f"secret {secret!r} shown as {form!r}"


def connections_file(tmp_path: Path, *, extra_header: str = "") -> Path:
    spec = {"connections": {"Api": {
        "api_key": {"name": "X-Api-Key", "value": SECRETS["key"]},
        "basic": {"username": "ann", "password": SECRETS["password"]},
        "headers": {"X-Trace": SECRETS["header"] + extra_header},
        "query": {"sig": SECRETS["query"]},
        "body": {"note": SECRETS["body"]},
    }}}
    path = tmp_path / "connections.json"  # JSON is YAML
    path.write_text(json.dumps(spec))
    return path


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = connections_file(tmp_path)
    monkeypatch.setenv("SM_CONNECTIONS_FILE", str(path))
    monkeypatch.setenv("SM_CONNECTION_TOKENED", json.dumps({"oauth": {"token_env": "TOKEN_VAR"}}))
    monkeypatch.setenv("TOKEN_VAR", SECRETS["token"])
    return path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def flow(endpoint: str, *, caught: bool, arn: str = ARN, **task: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "End": True,
                             "Parameters": {"ApiEndpoint": endpoint, "Method": "POST",
                                            "QueryParameters": {"page": "2"},
                                            "Authentication": {"ConnectionArn": arn}}, **task}
    states: dict[str, Any] = {"Call": state}
    if caught:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]
        states["Caught"] = {"Type": "Pass", "End": True}
    return {"StartAt": "Call", "States": states}


def run_everywhere(definition: dict[str, Any], tmp_path: Path, expected_error: str) -> None:
    """Run through the API (caught and uncaught) and ``sm run`` (human and --json); search all."""
    for caught in (True, False):
        definition = json.loads(json.dumps(definition))
        if not caught:
            definition["States"]["Call"].pop("Catch", None)
            definition["States"].pop("Caught", None)
        execution = statemachine.load(definition).run({"orderId": "7"})
        error = execution.output["error"]["Error"] if caught else execution.error
        assert error == expected_error, (execution.output, execution.cause)
        assert_hidden(execution.history, execution.to_dict(), [e.details for e in execution.events])
        if caught:
            continue  # the CLI prints what to_dict() holds: run it on the failing execution
        path = tmp_path / f"flow-{caught}.json"
        path.write_text(json.dumps(definition))
        for extra in ([], ["--json"]):
            result = subprocess.run([sys.executable, "-m", "statemachine.cli", "run", str(path),
                                     "--input", '{"orderId": "7"}', *extra],
                                    capture_output=True, text=True, env=dict(os.environ), timeout=120,
                                    check=False)
            assert expected_error in result.stdout + result.stderr
            assert_hidden(result.stdout, result.stderr)


# -- each failure kind, through the public API and the CLI --------------------------------------
def test_socket_error(planted: Path, tmp_path: Path) -> None:
    run_everywhere(flow(f"http://127.0.0.1:{closed_port()}/x", caught=True), tmp_path, "States.Http.Socket")


def test_bad_status_whose_body_echoes_the_request(planted: Path, tmp_path: Path, http_server: Any) -> None:
    run_everywhere(flow(http_server.url + "/echo-status/401", caught=True), tmp_path,
                   "States.Http.StatusCode.401")
    seen = http_server.requests[-1]  # the secrets were really sent (and echoed back)
    assert seen["headers"]["X-Api-Key"] == SECRETS["key"] and seen["query"]["sig"] == [SECRETS["query"]]


def test_redirect_whose_location_carries_the_query(planted: Path, tmp_path: Path, http_server: Any) -> None:
    run_everywhere(flow(http_server.url + "/redirect", caught=True), tmp_path, "States.Http.StatusCode.302")
    assert all(r["path"] == "/redirect" for r in http_server.requests)  # never followed


def test_read_timeout_of_the_http_task(planted: Path, tmp_path: Path, http_server: Any) -> None:
    definition = flow(http_server.url + "/slow?seconds=3", caught=True)
    handler = HttpInvokeHandler(ConnectionStore.from_file(planted))
    with pytest.raises(StatesError) as info:
        call(handler, "arn:aws:states:::http:invoke", definition["States"]["Call"]["Parameters"],
             timeout_seconds=0.2)
    assert info.value.name == "States.Http.Socket" and "ReadTimeout" in str(info.value)
    assert_hidden(str(info.value), repr(info.value), info.value.cause)


def test_state_timeout(planted: Path, tmp_path: Path, http_server: Any) -> None:
    run_everywhere(flow(http_server.url + "/slow?seconds=3", caught=True, TimeoutSeconds=1), tmp_path,
                   "States.Timeout")


def test_header_value_with_a_line_break(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        http_server: Any) -> None:
    path = connections_file(tmp_path, extra_header="\r\nX-Injected: 1")
    monkeypatch.setenv("SM_CONNECTIONS_FILE", str(path))
    run_everywhere(flow(http_server.url + "/json", caught=True), tmp_path, "Http.ConnectionNotConfigured")
    assert http_server.requests == []  # refused before anything was sent
    execution = statemachine.load(flow(http_server.url + "/json", caught=False)).run({})
    assert execution.cause == "connection 'Api': header 'X-Trace': its value holds CR, LF or NUL"


def test_definition_header_with_a_line_break_is_refused_by_name(http_server: Any) -> None:
    definition = flow(http_server.url + "/json", caught=False)
    definition["States"]["Call"]["Parameters"]["Headers"] = {"X-A": "a\r\nX-B: b"}
    del definition["States"]["Call"]["Parameters"]["Authentication"]
    execution = statemachine.load(definition).run({})
    assert (execution.error, execution.cause) == ("States.Runtime", "Headers: header 'X-A': its value holds CR, LF or NUL")


@pytest.mark.parametrize("text", [
    'connections:\n  Api:\n    api_key: {name: X-Api-Key, value: "k-secret-1a2b3c"\n',   # unclosed flow mapping
    'connections:\n  Api:\n    api_key:\n      value: "k-secret-1a2b3c\n',                # unclosed quote
    "connections:\n  Api:\n\tapi_key: k-secret-1a2b3c\n",                                   # a tab
    'connections:\n  Api: "k-secret-1a2b3c"\n',                                            # not an object
])
def test_malformed_connections_file(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    http_server: Any) -> None:
    path = tmp_path / "connections.yaml"
    path.write_text(text)
    monkeypatch.setenv("SM_CONNECTIONS_FILE", str(path))
    run_everywhere(flow(http_server.url + "/json", caught=True), tmp_path, "Http.ConnectionNotConfigured")
    with pytest.raises(ValueError) as info:
        ConnectionStore.from_file(path)
    assert str(path) in str(info.value)
    assert_hidden(str(info.value))


def test_malformed_connection_variable(monkeypatch: pytest.MonkeyPatch, http_server: Any, tmp_path: Path) -> None:
    monkeypatch.setenv("SM_CONNECTION_API", '{"api_key": {"value": "k-secret-1a2b3c"')
    monkeypatch.delenv("SM_CONNECTIONS_FILE", raising=False)
    run_everywhere(flow(http_server.url + "/json", caught=True), tmp_path, "Http.ConnectionNotConfigured")
    monkeypatch.setenv("SM_CONNECTION_API", json.dumps("k-secret-1a2b3c"))
    run_everywhere(flow(http_server.url + "/json", caught=True), tmp_path, "Http.ConnectionNotConfigured")


def test_secret_read_from_an_environment_variable(planted: Path, tmp_path: Path, http_server: Any) -> None:
    arn = "arn:aws:events:us-east-1:1:connection/Tokened/x"
    run_everywhere(flow(http_server.url + "/echo-status/403", caught=True, arn=arn), tmp_path,
                   "States.Http.StatusCode.403")
    assert http_server.requests[-1]["headers"]["Authorization"] == f"Bearer {SECRETS['token']}"


def test_the_successful_answer_is_passed_on_unchanged(planted: Path, http_server: Any) -> None:
    # only causes are scrubbed: a 2xx answer is the task's result, as on AWS
    execution = statemachine.load(flow(http_server.url + "/echo", caught=False)).run({})
    assert execution.output["ResponseBody"]["headers"]["X-Api-Key"] == SECRETS["key"]


def test_malformed_aws_credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[default\naws_access_key_id = AKIA0000\naws_secret_access_key = {AWS_SECRET}\n")
    for name, value in {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(credentials),
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                        "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{closed_port()}"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    definition = {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:f", "End": True}}}
    execution = statemachine.load(definition).run({})
    assert execution.status == "FAILED"
    assert_hidden(execution.history, execution.to_dict())
    path = tmp_path / "lambda.json"
    path.write_text(json.dumps(definition))
    result = subprocess.run([sys.executable, "-m", "statemachine.cli", "run", str(path), "--json"],
                            capture_output=True, text=True, env=dict(os.environ), timeout=120, check=False)
    assert result.returncode == 1 and "FAILED" in result.stdout
    assert_hidden(result.stdout, result.stderr)
