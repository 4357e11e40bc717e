"""ResourceRegistry: exact and prefix resolution, integration suffixes, entry points, errors."""

from __future__ import annotations

from importlib import metadata

import pytest

from statemachine.errors import ResourceNotFoundError
from statemachine.resources import (
    MockResource,
    ResourceRegistry,
    base_resource,
    coerce_registry,
    integration_of,
)
from statemachine.resources import registry as registry_module
from statemachine.resources.aws_lambda import BareLambdaHandler, LambdaInvokeHandler
from statemachine.resources.http import HttpInvokeHandler
from statemachine.resources.shell import ShellHandler
from tests.fixtures.calls import resolve_and_call


def test_integration_pattern_comes_from_the_suffix() -> None:
    assert integration_of("arn:aws:states:::lambda:invoke") == "request-response"
    assert integration_of("arn:aws:states:::lambda:invoke.waitForTaskToken") == "wait-for-task-token"
    assert integration_of("arn:aws:states:::states:startExecution.sync:2") == "sync"
    assert base_resource("arn:aws-cn:states:::lambda:invoke.waitForTaskToken") == "arn:aws:states:::lambda:invoke"


def test_default_registry_has_the_builtins() -> None:
    registry = ResourceRegistry.default()
    assert isinstance(registry.resolve("shell"), ShellHandler)
    assert isinstance(registry.resolve("shell.waitForTaskToken"), ShellHandler)
    assert isinstance(registry.resolve("arn:aws:states:::http:invoke"), HttpInvokeHandler)
    assert isinstance(registry.resolve("arn:aws:states:::lambda:invoke"), LambdaInvokeHandler)
    assert isinstance(registry.resolve("arn:aws:states:::lambda:invoke.waitForTaskToken"), LambdaInvokeHandler)
    bare = registry.resolve("arn:aws:lambda:us-east-1:111111111111:function:echo")
    assert isinstance(bare, BareLambdaHandler)
    assert bare.function_arn.endswith(":function:echo")


def test_other_partitions_resolve_like_aws() -> None:
    registry = ResourceRegistry.default()
    assert isinstance(registry.resolve("arn:aws-us-gov:states:::http:invoke"), HttpInvokeHandler)


def test_unknown_resource_names_what_is_available() -> None:
    registry = ResourceRegistry.default()
    with pytest.raises(ResourceNotFoundError) as info:
        registry.resolve("arn:aws:states:::sqs:sendMessage")
    message = str(info.value)
    assert "arn:aws:states:::sqs:sendMessage" in message
    assert "shell" in message and "python:*" in message and "arn:aws:lambda:*" in message
    assert "arn:aws:states:::sqs:sendMessage" not in registry


def test_registered_handlers_win_and_prefixes_match_longest_first() -> None:
    registry = ResourceRegistry()
    short, long = MockResource.returning("short"), MockResource.returning("long")
    registry.register("arn:x:", short, prefix=True)
    registry.register("arn:x:special:", long, prefix=True)
    assert resolve_and_call(registry, "arn:x:special:thing") == "long"
    assert resolve_and_call(registry, "arn:x:other") == "short"
    exact = MockResource.returning("exact")
    registry.register("arn:x:special:exact", exact)
    assert resolve_and_call(registry, "arn:x:special:exact") == "exact"


def test_with_handlers_copies_and_accepts_star_prefixes() -> None:
    registry = ResourceRegistry()
    layered = registry.with_handlers({"my:*": MockResource.returning(1), "one": MockResource.returning(2)})
    assert resolve_and_call(layered, "my:anything") == 1
    assert resolve_and_call(layered, "one") == 2
    assert "one" not in registry  # the original is untouched


def test_coerce_registry_layers_a_mapping_on_the_defaults() -> None:
    mock = MockResource.returning({"ok": True})
    registry = coerce_registry({"custom": mock})
    assert registry.resolve("custom") is mock
    assert isinstance(registry.resolve("shell"), ShellHandler)
    given = ResourceRegistry()
    assert coerce_registry(given) is given


def test_register_rejects_non_callables() -> None:
    with pytest.raises(TypeError):
        ResourceRegistry().register("x", "not callable")  # type: ignore[arg-type]


def test_entry_points_register_handlers_and_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    group = registry_module.ENTRY_POINT_GROUP
    points = metadata.EntryPoints([
        metadata.EntryPoint("acme:queue", "tests.fixtures.handlers.sample:double", group),
        metadata.EntryPoint("acme:all:*", "tests.fixtures.handlers.sample:echo", group),
        metadata.EntryPoint("acme:broken", "tests.fixtures.handlers.no_such_module:f", group),
    ])
    monkeypatch.setattr(metadata, "entry_points",
                        lambda group: points.select(group=group))
    registry = ResourceRegistry.default()
    assert resolve_and_call(registry, "acme:queue", 21) == 42
    assert resolve_and_call(registry, "acme:all:x", {"a": 1}) == {"a": 1}
    with pytest.raises(ResourceNotFoundError, match="acme:broken"):
        resolve_and_call(registry, "acme:broken", 1)
