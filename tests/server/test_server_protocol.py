"""The wire and the gate: AWS's JSON 1.0 error shape and 4xx for every bad request (raw
HTTP, as a broken client would send it), the access token (SigV4 with the token as the
secret key, Bearer, the console's cookie), and ``sm serve``'s refusal of unsafe addresses."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import RunningServer, config

TARGET = "AWSStepFunctions."
JSON10 = "application/x-amz-json-1.0"


def post(server: RunningServer, operation: str | None, body: bytes | str, **headers: str) -> httpx.Response:
    sent = {"content-type": JSON10, **headers}
    if operation is not None:
        sent["x-amz-target"] = TARGET + operation
    return httpx.post(server.url + "/", content=body, headers=sent, timeout=30)


def aws_error(response: httpx.Response) -> tuple[int, str, str]:
    assert response.headers["content-type"].startswith(JSON10)
    body: dict[str, Any] = response.json()
    assert set(body) == {"__type", "message"}
    return response.status_code, body["__type"], body["message"]


@pytest.mark.parametrize(("operation", "body", "status", "code"), [
    ("ListStateMachines", b"{not json", 400, "SerializationException"),
    ("ListStateMachines", b"[1, 2]", 400, "SerializationException"),
    ("ListStateMachines", b"\xff\xfe", 400, "SerializationException"),
    ("ListStateMachines", b'{"maxResults": "ten"}', 400, "SerializationException"),
    ("ListStateMachines", b'{"maxResults": 1001}', 400, "ValidationException"),
    ("ListStateMachines", b'{"maxResults": true}', 400, "SerializationException"),
    ("DescribeExecution", b"{}", 400, "ValidationException"),
    ("DescribeExecution", b'{"executionArn": 5}', 400, "SerializationException"),
    ("CreateStateMachine", b'{"name": "x", "definition": {}, "roleArn": "r"}', 400,
     "SerializationException"),
    ("NoSuchThing", b"{}", 400, "UnknownOperationException"),
    (None, b"{}", 400, "UnknownOperationException"),
    ("StartExecution", b'{"stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:x", '
     b'"input": "[1"}', 400, "InvalidExecutionInput"),
    ("SendTaskSuccess", b'{"taskToken": "t", "output": "{}"}', 400, "InvalidToken"),
    ("ListExecutions", b"{}", 400, "ValidationException"),
])
def test_bad_requests_get_aws_errors(sm_server: RunningServer, operation: str | None, body: bytes,
                                     status: int, code: str) -> None:
    got = aws_error(post(sm_server, operation, body))
    assert got[:2] == (status, code)
    assert "Traceback" not in got[2]


def test_oversized_bodies_and_definitions(sm_server: RunningServer) -> None:
    huge = b'{"name": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    assert aws_error(post(sm_server, "ListStateMachines", huge))[:2] == (413, "RequestEntityTooLarge")
    states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(30000)}
    states["S30000"] = {"Type": "Succeed"}
    definition = json.dumps({"StartAt": "S0", "States": states})
    assert len(definition) > 1024 * 1024
    body = json.dumps({"name": "big", "definition": definition, "roleArn": "arn:aws:iam::1:role/r"})
    status, code, message = aws_error(post(sm_server, "CreateStateMachine", body))
    assert (status, code) == (400, "ValidationException")
    assert "definition" in message and "1048576" in message
    big_input = json.dumps({"stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:x",
                            "input": json.dumps({"v": "x" * 300_000})})
    assert aws_error(post(sm_server, "StartExecution", big_input))[:2] == (400, "ValidationException")


def test_request_id_and_content_type(sm_server: RunningServer) -> None:
    response = post(sm_server, "ListStateMachines", b"")
    assert response.status_code == 200 and response.json() == {"stateMachines": []}
    assert response.headers["content-type"].startswith(JSON10)
    assert response.headers["x-amzn-requestid"]


def test_token_gate(tmp_path: Path) -> None:
    token = "correct-horse-battery-staple"
    with RunningServer(config(tmp_path, token=token)) as server:
        assert server.client().list_state_machines()["stateMachines"] == []  # SigV4 with it
        status, code, _ = aws_error(post(server, "ListStateMachines", b"{}"))
        assert (status, code) == (403, "UnrecognizedClientException")
        bearer = post(server, "ListStateMachines", b"{}", authorization=f"Bearer {token}")
        assert bearer.status_code == 200
        wrong = post(server, "ListStateMachines", b"{}", authorization="Bearer nope-nope-nope-nope")
        assert aws_error(wrong)[:2] == (403, "UnrecognizedClientException")
        with pytest.raises(Exception) as caught:
            server.client(aws_secret_access_key="wrong-wrong-wrong-wrong").list_activities()
        assert "InvalidSignatureException" in str(caught.value)
        # a signature replayed with a changed body does not pass
        import boto3  # noqa: F401  (botocore's signer)
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        request = AWSRequest("POST", server.url + "/", data=b"{}", headers={
            "content-type": JSON10, "x-amz-target": TARGET + "ListStateMachines"})
        SigV4Auth(Credentials("sm", token), "states", "us-east-1").add_auth(request)
        signed = dict(request.headers.items())
        assert httpx.post(server.url + "/", content=b"{}", headers=signed).status_code == 200
        tampered = httpx.post(server.url + "/", content=b'{"maxResults": 1}', headers=signed)
        assert aws_error(tampered)[:2] == (403, "InvalidSignatureException")
        # other routes: Bearer, or a cookie set from ?token= (the console in a browser)
        assert httpx.get(server.url + "/anything").status_code == 403
        redirect = httpx.get(server.url + f"/anything?token={token}&x=1")
        assert redirect.status_code == 303 and redirect.headers["location"] == "/anything?x=1"
        cookie = redirect.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        with_cookie = httpx.get(server.url + "/anything", cookies={"sm_token": token})
        assert with_cookie.status_code == 404  # let through: no such page


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sm(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "statemachine.cli", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **env})


def test_sm_serve_refuses_unsafe_addresses(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    remote = sm("serve", "--db", db, "--host", "0.0.0.0", "--port", "0")
    assert remote.returncode == 2 and "--allow-remote" in remote.stderr
    no_token = sm("serve", "--db", db, "--host", "0.0.0.0", "--allow-remote", "--port", "0",
                  SM_SERVER_TOKEN="")
    assert no_token.returncode == 2 and "token" in no_token.stderr
    short = sm("serve", "--db", db, "--token", "short", "--port", "0")
    assert short.returncode == 2 and "16 characters" in short.stderr


def test_sm_serve_process(tmp_path: Path) -> None:
    import boto3
    from botocore.config import Config

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "statemachine.cli", "serve", "--db", str(tmp_path / "p.db"),
         "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        sfn = boto3.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{port}",
                           region_name="us-east-1", aws_access_key_id="sm",
                           aws_secret_access_key="sm", config=Config(retries={"max_attempts": 0}))
        deadline = time.monotonic() + 30
        while True:
            try:
                assert sfn.list_state_machines()["stateMachines"] == []
                break
            except Exception:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"http://127.0.0.1:{port}" in stderr
    # the banner names both doors: the API endpoint for SDKs and the console for browsers
    assert f"--endpoint-url http://127.0.0.1:{port}" in stderr
    assert f"console: http://127.0.0.1:{port}/" in stderr


def test_sm_serve_on_any_free_port_names_the_port_it_serves(tmp_path: Path) -> None:
    # --port 0 is "any free one": the banner (and so the console's and e-mails' links) must
    # name the port the server listens on, not 0
    import re

    import httpx

    process = subprocess.Popen(
        [sys.executable, "-m", "statemachine.cli", "serve", "--db", str(tmp_path / "p.db"),
         "--port", "0"], stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # the banner's first line; EOF: it exited
        found = re.search(r"API on http://127\.0\.0\.1:(\d+) ", first)
        assert found is not None, first
        port = int(found.group(1))
        assert port != 0, first
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/", timeout=5, json={}, headers={
                    "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
                    "Content-Type": "application/x-amz-json-1.0"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "nothing listens"
                time.sleep(0.1)
        assert answer.status_code == 200 and answer.json() == {"stateMachines": []}, answer.text
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert process.returncode == 0
