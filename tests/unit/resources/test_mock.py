"""MockResource, the test double users plug in for any Resource."""

from __future__ import annotations

import pytest

from statemachine.errors import StatesError
from statemachine.resources import MockError, MockResource, ResourceRegistry
from tests.fixtures.calls import resolve_and_call


def test_scripted_responses_in_order_and_last_repeats() -> None:
    mock = MockResource([{"n": 1}, MockError("Busy", "try later"), {"n": 2}])
    registry = ResourceRegistry().with_handlers({"svc": mock})
    assert resolve_and_call(registry, "svc", "a") == {"n": 1}
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, "svc", "b")
    assert (info.value.name, info.value.cause) == ("Busy", "try later")
    assert resolve_and_call(registry, "svc", "c") == {"n": 2}
    assert resolve_and_call(registry, "svc", "d") == {"n": 2}
    assert mock.inputs == ["a", "b", "c", "d"]
    assert mock.call_count == 4
    assert mock.calls[0].resource == "svc"


def test_exhausted_mock_without_repeat() -> None:
    mock = MockResource([1], repeat_last=False)
    registry = ResourceRegistry().with_handlers({"svc": mock})
    assert resolve_and_call(registry, "svc") == 1
    with pytest.raises(StatesError, match=r"Mock\.Exhausted"):
        resolve_and_call(registry, "svc")


def test_callable_responses_see_the_request() -> None:
    mock = MockResource([lambda request: {"echo": request.input, "token": request.task_token}])
    registry = ResourceRegistry().with_handlers({"svc": mock})
    assert resolve_and_call(registry, "svc.waitForTaskToken", 5, task_token="t") == {"echo": 5, "token": "t"}


def test_failing_and_returning_shortcuts() -> None:
    registry = ResourceRegistry().with_handlers({
        "ok": MockResource.returning(None), "bad": MockResource.failing("E", None)})
    assert resolve_and_call(registry, "ok") is None
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, "bad")
    assert info.value.name == "E" and info.value.cause is None
