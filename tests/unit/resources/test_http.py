"""arn:aws:states:::http:invoke against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
from typing import Any

import pytest

from statemachine.errors import StatesError
from statemachine.resources import TaskRequest
from statemachine.resources.connections import ConnectionStore
from statemachine.resources.http import HttpInvokeHandler, url_encode
from tests.fixtures.calls import call
from tests.fixtures.servers import http_test_server

RESOURCE = "arn:aws:states:::http:invoke"


def invoke(params: dict[str, Any], handler: HttpInvokeHandler | None = None, **fields: Any) -> Any:
    return call(handler or HttpInvokeHandler(ConnectionStore()), RESOURCE, params, **fields)


def test_get_json_response(http_server: Any) -> None:
    result = invoke({"ApiEndpoint": http_server.url + "/json", "Method": "GET"})
    assert result["StatusCode"] == 200
    assert result["StatusText"] == "OK"
    assert result["ResponseBody"] == {"hello": "world"}
    assert result["Headers"]["Content-Type"] == ["application/json"]


def test_text_response_stays_text(http_server: Any) -> None:
    result = invoke({"ApiEndpoint": http_server.url + "/text", "Method": "GET"})
    assert result["ResponseBody"] == "plain text"


def test_request_headers_query_and_json_body(http_server: Any) -> None:
    invoke({"ApiEndpoint": http_server.url + "/echo", "Method": "POST",
            "Headers": {"X-Trace": "abc"}, "QueryParameters": {"q": "a b", "n": 1},
            "RequestBody": {"order": [1, 2]}})
    seen = http_server.requests[-1]
    assert seen["method"] == "POST"
    assert seen["query"] == {"q": ["a b"], "n": ["1"]}
    assert seen["headers"]["X-Trace"] == "abc"
    assert seen["headers"]["Content-Type"] == "application/json"
    assert json.loads(seen["body"]) == {"order": [1, 2]}


@pytest.mark.parametrize(("fmt", "expected"), [
    ("INDICES", "a%5B0%5D=x&a%5B1%5D=y&b=1"),
    ("REPEAT", "a=x&a=y&b=1"),
    ("COMMAS", "a=x%2Cy&b=1"),
    ("BRACKETS", "a%5B%5D=x&a%5B%5D=y&b=1"),
])
def test_url_encoded_body_array_formats(http_server: Any, fmt: str, expected: str) -> None:
    assert url_encode({"a": ["x", "y"], "b": 1}, fmt) == expected
    invoke({"ApiEndpoint": http_server.url + "/echo", "Method": "POST",
            "RequestBody": {"a": ["x", "y"], "b": 1},
            "Transform": {"RequestBodyEncoding": "URL_ENCODED",
                          "RequestEncodingOptions": {"ArrayFormat": fmt}}})
    seen = http_server.requests[-1]
    assert seen["body"] == expected
    assert seen["headers"]["Content-Type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_error_status_is_a_states_http_status_code_error(http_server: Any, status: int) -> None:
    with pytest.raises(StatesError) as info:
        invoke({"ApiEndpoint": f"{http_server.url}/status/{status}", "Method": "GET"})
    assert info.value.name == f"States.Http.StatusCode.{status}"
    cause = json.loads(info.value.cause or "")
    assert cause["StatusCode"] == status and cause["ResponseBody"] == {"status": status}


def test_slow_response_past_the_timeout_is_a_socket_error(http_server: Any) -> None:
    with pytest.raises(StatesError) as info:
        invoke({"ApiEndpoint": http_server.url + "/slow?seconds=5", "Method": "GET"},
               timeout_seconds=0.3)
    assert info.value.name == "States.Http.Socket"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_a_socket_error() -> None:
    with pytest.raises(StatesError) as info:
        invoke({"ApiEndpoint": f"http://127.0.0.1:{_closed_port()}/x", "Method": "GET"})
    assert info.value.name == "States.Http.Socket"
    assert "ConnectError" in (info.value.cause or "")


def test_cancellation_stops_the_request(http_server: Any) -> None:
    request = TaskRequest(RESOURCE, input={"ApiEndpoint": http_server.url + "/slow?seconds=5",
                                            "Method": "GET"})

    async def attempt() -> None:
        await asyncio.wait_for(HttpInvokeHandler(ConnectionStore())(request), 0.3)

    with pytest.raises(TimeoutError):
        asyncio.run(attempt())


def test_connection_secrets_come_from_the_environment(http_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = "arn:aws:events:us-east-1:123456789012:connection/My-Api/81210c42-8af1-456b-9c4a-6ff02fc664ac"
    monkeypatch.setenv("MY_API_KEY_VALUE", "s3cret")
    monkeypatch.setenv("SM_CONNECTION_MY_API", json.dumps(
        {"api_key": {"name": "X-Api-Key", "value_env": "MY_API_KEY_VALUE"}, "query": {"v": "2"}}))
    invoke({"ApiEndpoint": http_server.url + "/echo", "Method": "GET",
            "Authentication": {"ConnectionArn": arn}})
    seen = http_server.requests[-1]
    assert seen["headers"]["X-Api-Key"] == "s3cret"
    assert seen["query"] == {"v": ["2"]}


def test_connections_file_with_basic_auth(http_server: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "connections.yaml"
    path.write_text("connections:\n  Billing:\n    basic: {username: ann, password_env: BILLING_PW}\n")
    monkeypatch.setenv("BILLING_PW", "pw")
    handler = HttpInvokeHandler(ConnectionStore.from_file(path))
    invoke({"ApiEndpoint": http_server.url + "/echo", "Method": "GET",
            "Authentication": {"ConnectionArn": "arn:aws:events:us-east-1:1:connection/Billing/x"}},
           handler)
    assert http_server.requests[-1]["headers"]["Authorization"] == "Basic YW5uOnB3"


def test_unconfigured_connection_is_a_named_error(http_server: Any) -> None:
    with pytest.raises(StatesError) as info:
        invoke({"ApiEndpoint": http_server.url + "/json", "Method": "GET",
                "Authentication": {"ConnectionArn": "arn:aws:events:us-east-1:1:connection/Nope/x"}})
    assert info.value.name == "Http.ConnectionNotConfigured"
    assert "SM_CONNECTION_NOPE" in (info.value.cause or "")
    assert http_server.requests == []


def test_malformed_parameters_are_runtime_errors() -> None:
    for params in ({"Method": "GET"}, {"ApiEndpoint": "ftp://x", "Method": "GET"},
                   {"ApiEndpoint": "http://127.0.0.1/", "Method": "FETCH"}):
        with pytest.raises(StatesError) as info:
            invoke(params)
        assert info.value.name == "States.Runtime"


def test_connections_file_from_the_environment(http_server: Any, tmp_path: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_CONNECTIONS_FILE", str(tmp_path / "absent.yaml"))
    handler = HttpInvokeHandler()  # nothing is read until a task needs a connection
    assert invoke({"ApiEndpoint": http_server.url + "/json", "Method": "GET"}, handler)["StatusCode"] == 200
    auth = {"ConnectionArn": "arn:aws:events:us-east-1:1:connection/Ops/x"}
    with pytest.raises(StatesError) as info:
        invoke({"ApiEndpoint": http_server.url + "/json", "Method": "GET", "Authentication": auth}, handler)
    assert info.value.name == "Http.ConnectionNotConfigured"
    assert "absent.yaml" in (info.value.cause or "")
    (tmp_path / "ops.yaml").write_text("connections:\n  Ops:\n    oauth: {token: t0k}\n")
    monkeypatch.setenv("SM_CONNECTIONS_FILE", str(tmp_path / "ops.yaml"))
    invoke({"ApiEndpoint": http_server.url + "/echo", "Method": "GET", "Authentication": auth},
           HttpInvokeHandler())
    assert http_server.requests[-1]["headers"]["Authorization"] == "Bearer t0k"


def test_other_2xx_statuses_succeed(http_server: Any) -> None:
    result = invoke({"ApiEndpoint": http_server.url + "/status/201", "Method": "PUT",
                     "RequestBody": "raw text body"})
    assert (result["StatusCode"], result["StatusText"]) == (201, "Created")
    assert http_server.requests[-1]["body"] == "raw text body"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_certificates_are_verified(tmp_path: Any) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with http_test_server() as server:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        port = server.server_address[1]
        with pytest.raises(StatesError) as info:  # a self-signed certificate is refused
            invoke({"ApiEndpoint": f"https://127.0.0.1:{port}/json", "Method": "GET"})
        assert info.value.name == "States.Http.Socket"
        assert "CERTIFICATE_VERIFY_FAILED" in (info.value.cause or "")
