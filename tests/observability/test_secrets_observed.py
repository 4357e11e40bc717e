"""Secrets never reach logs, history or traces. A connection carries planted secrets (API key
header, basic auth, an OAuth token read from the environment, its own header, query and body
values); HTTP tasks call a real loopback server, once successfully and once against a route
that echoes the whole request (secrets included) with a 500, whose cause the HTTP Task must
redact. Every log line, history event, span (name, attributes, events, status) and metric
point is searched for every secret in every form it could be written in."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

import statemachine
from statemachine import LoggingConfiguration
from tests.observability.conftest import Otel

ARN = "arn:aws:events:us-east-1:123456789012:connection/Api/81210c42-8af1-456b-9c4a-6ff02fc664ac"
SECRETS = {"key": "k-secret-51a2b3c", "password": "p-secret-54455", "token": "t-secret-env-56677",
           "header": "h-secret-577aa", "query": "q-secret-5f8e/7d+1", "body": 'b-secret-"5quoted"'}
HTTP = "arn:aws:states:::http:invoke"


def forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
            base64.b64encode(f"ann:{secret}".encode()).decode()}


def assert_hidden(what: str, blob: str) -> None:
    for secret in SECRETS.values():
        for form in forms(secret):
            assert form not in blob, f"secret {secret!r} shown as {form!r} in {what}"


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = {"connections": {"Api": {
        "api_key": {"name": "X-Api-Key", "value": SECRETS["key"]},
        "basic": {"username": "ann", "password": SECRETS["password"]},
        "headers": {"X-Extra": SECRETS["header"]}, "query": {"sig": SECRETS["query"]},
        "body": {"note": SECRETS["body"]}},
        "Bearer": {"oauth": {"token_env": "SM_TEST_TOKEN"}}}}
    path = tmp_path / "connections.json"
    path.write_text(json.dumps(spec))
    monkeypatch.setenv("SM_CONNECTIONS_FILE", str(path))
    monkeypatch.setenv("SM_TEST_TOKEN", SECRETS["token"])


def call(url: str, connection: str, **state: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": HTTP, **state, "Parameters": {
        "ApiEndpoint": url, "Method": "POST", "RequestBody": {"order": 7},
        "Authentication": {"ConnectionArn": connection}}}


def span_text(span: Any) -> str:
    parts: list[Any] = [span.name, dict(span.attributes), span.status.description]
    parts.extend((event.name, dict(event.attributes)) for event in span.events)
    return json.dumps(parts, default=str)


def test_secrets_stay_out_of_logs_history_and_traces(planted: None, otel: Otel, http_server: Any) -> None:
    bearer = ARN.replace("/Api/", "/Bearer/")
    machine = statemachine.load({"StartAt": "Ok", "States": {
        "Ok": call(f"{http_server.url}/json", ARN, ResultSelector={"status.$": "$.StatusCode"},
                   ResultPath="$.ok", Next="Token"),
        "Token": call(f"{http_server.url}/json", bearer, ResultPath=None, Next="Echo"),
        "Echo": call(f"{http_server.url}/echo-status/500", ARN,
                     Retry=[{"ErrorEquals": ["States.Http.StatusCode.500"], "IntervalSeconds": 1,
                             "MaxAttempts": 1}],
                     Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Fail"}],
                     End=True),
        "Fail": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}}})
    stream = io.StringIO()
    execution = machine.run({"items": [1]}, virtual_time=True, telemetry=otel.telemetry(),
                            logging=LoggingConfiguration("ALL", True, stream))
    assert execution.status == "FAILED"
    assert execution.error == "States.Http.StatusCode.500"
    # the planted secrets really went out: the server saw every one (so hiding them is the test)
    received = json.dumps(http_server.requests)
    assert SECRETS["key"] in received and SECRETS["token"] in received
    assert SECRETS["header"] in received and base64.b64encode(
        f"ann:{SECRETS['password']}".encode()).decode() in received
    echoed = [r for r in http_server.requests if r["path"].startswith("/echo-status")]
    assert len(echoed) == 2 and all("traceparent" in r["headers"] for r in echoed)
    assert "*****" in execution.cause  # the echo was in the cause, redacted

    logs = stream.getvalue()
    assert len(logs.splitlines()) == len(execution.history)
    assert_hidden("logs", logs)
    assert_hidden("history", json.dumps(execution.history, default=str))
    assert_hidden("result", json.dumps(execution.to_dict(), default=str))
    spans = otel.spans()
    assert len(spans) >= 8
    for span in spans:
        assert_hidden(f"span {span.name}", span_text(span))
    assert_hidden("metrics", json.dumps(otel.reader.get_metrics_data().to_json()))
