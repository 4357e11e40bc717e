"""Local stand-ins from a resource map (MAP.yaml): mapped Lambdas behave as AWS Lambda."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from statemachine.errors import ResourceNotFoundError, StatesError
from statemachine.resources import ResourceRegistry, TaskRequest
from statemachine.resources.local_map import ResourceMapError
from tests.fixtures.calls import resolve_and_call

LAMBDAS = Path(__file__).resolve().parents[2] / "fixtures" / "lambdas"
ARN = "arn:aws:lambda:us-east-1:111111111111:function:"
INVOKE = "arn:aws:states:::lambda:invoke"


def fixture(name: str) -> dict[str, str]:
    return {"handler": "handler.handler", "code": name}


@pytest.fixture
def registry() -> ResourceRegistry:
    return ResourceRegistry.default().with_resource_map({
        "base_dir": str(LAMBDAS),
        "lambda_functions": {
            ARN + "identity": fixture("id_function"),
            "fails": fixture("raise_exception"),
            "custom": fixture("raise_custom_exception"),
            "large": fixture("large_output_string"),
            "raw": fixture("return_bytes_str"),
            "sleepy": fixture("wait_60_seconds"),
        },
    })


def test_map_file_with_module_paths_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "__init__.py").write_text("")
    (tmp_path / "handlers" / "echo_rt6.py").write_text("def handler(event, context):\n"
                                                       "    return {'got': event, 'fn': context.function_name}\n")
    (tmp_path / "handlers" / "sqs_rt6.py").write_text("def send(params):\n    return {'MessageId': params['MessageBody']}\n")
    (tmp_path / "map.yaml").write_text(
        "lambda_functions:\n"
        f"  {ARN}echo: handlers.echo_rt6:handler\n"
        "resources:\n"
        "  arn:aws:states:::sqs:sendMessage: python:handlers.sqs_rt6:send\n")
    registry = ResourceRegistry.default().with_resource_map(tmp_path / "map.yaml")
    assert resolve_and_call(registry, ARN + "echo", {"x": 1}) == {"got": {"x": 1}, "fn": "echo"}
    invoked = resolve_and_call(registry, INVOKE, {"FunctionName": "echo", "Payload": {"x": 2}})
    assert invoked["Payload"] == {"got": {"x": 2}, "fn": "echo"}
    assert resolve_and_call(registry, "arn:aws:states:::sqs:sendMessage", {"MessageBody": "m"}) == {"MessageId": "m"}


@pytest.mark.parametrize("name", ["identity", ARN + "identity", "111111111111:function:identity",
                                  "identity:$LATEST", ARN + "identity:$LATEST"])
def test_function_name_forms(registry: ResourceRegistry, name: str) -> None:
    result = resolve_and_call(registry, INVOKE, {"FunctionName": name, "Payload": "\"HelloWorld\""})
    assert result["Payload"] == "HelloWorld"
    assert result["SdkHttpMetadata"]["HttpHeaders"]["Content-Length"] == "12"
    assert result["StatusCode"] == 200


def test_bare_arn_and_bytes_payload(registry: ResourceRegistry) -> None:
    assert resolve_and_call(registry, ARN + "identity", [1, {"a": None}]) == [1, {"a": None}]
    assert resolve_and_call(registry, ARN + "raw", {}) == "HelloWorld!"
    assert resolve_and_call(registry, INVOKE, {"FunctionName": "raw"})["Payload"] == "HelloWorld!"


def test_exception_has_lambda_error_shape_with_var_task_frames(registry: ResourceRegistry) -> None:
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, ARN + "fails", {})
    assert info.value.name == "Exception"
    cause = json.loads(info.value.cause or "")
    assert cause["errorMessage"] == "Some exception was raised."
    assert cause["stackTrace"] == ['  File "/var/task/handler.py", line 2, in handler\n'
                                   '    raise Exception("Some exception was raised.")\n']
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, INVOKE, {"FunctionName": "custom"})
    assert info.value.name == "CustomException"
    assert (info.value.cause or "").startswith('{"errorMessage":"","errorType":"CustomException",')
    assert '/var/task/handler.py\\", line 9, in handler' in (info.value.cause or "")


def test_data_limit(registry: ResourceRegistry) -> None:
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, ARN + "large", {})
    assert info.value.name == "States.DataLimitExceeded"
    assert f"'{ARN}large'" in (info.value.cause or "")


def test_unknown_function(registry: ResourceRegistry) -> None:
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, INVOKE, {"FunctionName": "nope"})
    assert info.value.name == "Lambda.ResourceNotFoundException"
    assert "Function not found: arn:aws:lambda:us-east-1:" in (info.value.cause or "")
    with pytest.raises(ResourceNotFoundError, match="not in the resource map"):
        registry.resolve(ARN + "nope")


def test_invalid_payload_text(registry: ResourceRegistry) -> None:
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, INVOKE, {"FunctionName": "identity", "Payload": "not json"})
    assert info.value.name == "Lambda.InvalidRequestContentException"


def test_log_type_tail(registry: ResourceRegistry) -> None:
    result = resolve_and_call(registry, INVOKE, {"FunctionName": "identity", "LogType": "Tail"})
    assert result["LogResult"] == result["SdkHttpMetadata"]["HttpHeaders"]["X-Amz-Log-Result"]


def test_a_timed_out_function_does_not_block(registry: ResourceRegistry) -> None:
    handler = registry.resolve(ARN + "sleepy")
    request = TaskRequest(ARN + "sleepy", input={}, timeout_seconds=0.2)

    async def attempt() -> None:
        await asyncio.wait_for(handler(request), 0.2)

    with pytest.raises(TimeoutError):
        asyncio.run(attempt())


def test_map_errors_are_clear(tmp_path: Path) -> None:
    base = ResourceRegistry.default()
    with pytest.raises(ResourceMapError, match="unknown keys"):
        base.with_resource_map({"lambdas": {}})
    with pytest.raises(ResourceMapError, match="module 'missing' not found"):
        base.with_resource_map({"base_dir": str(tmp_path), "lambda_functions": {"f": "missing:handler"}})
    (tmp_path / "bad.py").write_text("raise RuntimeError('boom at import')\n")
    with pytest.raises(ResourceMapError, match="boom at import"):
        base.with_resource_map({"base_dir": str(tmp_path), "lambda_functions": {"f": "bad.handler"}})
    with pytest.raises(ResourceMapError, match="cannot read resource map"):
        base.with_resource_map(tmp_path / "absent.yaml")


def test_lambda_fallback_aws_goes_to_boto3(lambda_endpoint: Any) -> None:
    registry = ResourceRegistry.default().with_resource_map({
        "base_dir": str(LAMBDAS), "lambda_fallback": "aws",
        "lambda_functions": {"local-only": fixture("echo_function")},
    })
    assert resolve_and_call(registry, INVOKE, {"FunctionName": "local-only"})["Payload"] == {"Return": "HelloWorld"}
    remote = resolve_and_call(registry, INVOKE, {"FunctionName": "identity", "Payload": {"r": 1}})
    assert remote["Payload"] == {"r": 1}
    assert len(lambda_endpoint.requests) == 1


def test_malformed_function_name_is_not_found(registry: ResourceRegistry) -> None:
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, INVOKE, {"FunctionName": "no such name!"})
    assert info.value.name == "Lambda.ResourceNotFoundException"


def test_function_timeout_of_the_map_is_lambdas_own_timeout() -> None:
    registry = ResourceRegistry.default().with_resource_map({
        "base_dir": str(LAMBDAS),
        "lambda_functions": {"sleepy": {**fixture("wait_60_seconds"), "timeout": 0.2}},
    })
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, INVOKE, {"FunctionName": "sleepy"})
    assert info.value.name == "Sandbox.Timedout"
    assert "Task timed out after 0.20 seconds" in json.loads(info.value.cause or "")["errorMessage"]
