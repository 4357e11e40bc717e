"""AWS Lambda through boto3 against a local Lambda Invoke endpoint on loopback (boto3 is not
mocked: it signs and sends real HTTP requests to 127.0.0.1)."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from statemachine.errors import StatesError
from statemachine.resources import ResourceRegistry
from statemachine.resources.aws_lambda import Boto3Invoker, LambdaInvokeHandler
from tests.fixtures.calls import resolve_and_call

INVOKE = "arn:aws:states:::lambda:invoke"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


@pytest.fixture
def registry(lambda_endpoint: Any) -> ResourceRegistry:
    return ResourceRegistry.default()


def test_bare_arn_returns_the_parsed_payload(registry: ResourceRegistry, lambda_endpoint: Any) -> None:
    assert resolve_and_call(registry, ARN + "identity", {"a": [1, "x"]}) == {"a": [1, "x"]}
    assert resolve_and_call(registry, ARN + "echo", {}) == {"Return": "HelloWorld"}
    assert resolve_and_call(registry, ARN + "raw", {}) == "HelloWorld!"
    sent = lambda_endpoint.requests[0]
    assert sent["path"] == "/2015-03-31/functions/" + (ARN + "identity").replace(":", "%3A") + "/invocations"
    assert "AWS4-HMAC-SHA256" in sent["headers"]["Authorization"]


def test_invoke_wraps_the_response_like_step_functions(registry: ResourceRegistry) -> None:
    result = resolve_and_call(registry, INVOKE, {"FunctionName": "identity", "Payload": {"k": "v"}})
    assert result["StatusCode"] == 200
    assert result["Payload"] == {"k": "v"}
    assert result["ExecutedVersion"] == "$LATEST"
    meta = result["SdkHttpMetadata"]
    assert meta["HttpStatusCode"] == 200
    assert meta["HttpHeaders"]["Content-Length"] == str(len(json.dumps({"k": "v"})))
    assert meta["HttpHeaders"]["X-Amz-Executed-Version"] == "$LATEST"
    assert meta["AllHttpHeaders"]["Content-Type"] == ["application/json"]
    request_id = meta["HttpHeaders"]["x-amzn-RequestId"]
    assert result["SdkResponseMetadata"] == {"RequestId": request_id}


def test_string_payload_is_sent_as_is_and_null_as_empty_object(registry: ResourceRegistry,
                                                                lambda_endpoint: Any) -> None:
    assert resolve_and_call(registry, INVOKE, {"FunctionName": "identity", "Payload": "[1, 2]"})["Payload"] == [1, 2]
    assert resolve_and_call(registry, INVOKE, {"FunctionName": "identity", "Payload": None})["Payload"] == {}
    assert [r["body"] for r in lambda_endpoint.requests] == ["[1, 2]", "{}"]


def test_function_error_bare_arn_keeps_the_payload_text(registry: ResourceRegistry) -> None:
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, ARN + "fails", {})
    assert info.value.name == "Exception"
    cause = info.value.cause or ""
    assert cause.startswith('{"errorMessage": "Some exception was raised.", "errorType": "Exception"')
    trace = json.loads(cause)["stackTrace"]
    assert trace == ['  File "/var/task/handler.py", line 2, in handler\n'
                     '    raise Exception("Some exception was raised.")\n']


def test_function_error_invoke_reserialises_compactly(registry: ResourceRegistry) -> None:
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, INVOKE, {"FunctionName": ARN + "custom"})
    assert info.value.name == "CustomException"
    assert (info.value.cause or "").startswith('{"errorMessage":"","errorType":"CustomException"')


def test_unknown_function_is_a_lambda_service_error(registry: ResourceRegistry) -> None:
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, INVOKE, {"FunctionName": "nope"})
    assert info.value.name == "Lambda.ResourceNotFoundException"
    assert "Function not found" in (info.value.cause or "")
    assert "Status Code: 404; Error Code: ResourceNotFoundException" in (info.value.cause or "")


def test_payload_over_256_kib_is_data_limit_exceeded(registry: ResourceRegistry) -> None:
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, INVOKE, {"FunctionName": "large"})
    assert info.value.name == "States.DataLimitExceeded"
    assert info.value.cause == ("The state/task 'lambda' returned a result with a size exceeding "
                                "the maximum number of bytes service limit.")
    with pytest.raises(StatesError, match=f"The state/task '{ARN}large' returned"):
        resolve_and_call(registry, ARN + "large", {})


def test_event_invocation_returns_202_without_payload(registry: ResourceRegistry) -> None:
    result = resolve_and_call(registry, INVOKE, {"FunctionName": "identity", "InvocationType": "Event"})
    assert result["StatusCode"] == 202
    assert result["Payload"] == ""


def test_no_endpoint_is_an_sdk_client_error(lambda_endpoint: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = LambdaInvokeHandler(Boto3Invoker(endpoint_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(StatesError) as info:
        from tests.fixtures.calls import call

        call(handler, INVOKE, {"FunctionName": "identity"})
    assert info.value.name == "Lambda.SdkClientException"


def test_missing_function_name_is_rejected(registry: ResourceRegistry) -> None:
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, INVOKE, {"Payload": {}})
    assert info.value.name == "Lambda.InvalidParameterValueException"
