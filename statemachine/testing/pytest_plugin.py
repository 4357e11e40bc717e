"""Testing stage, pytest plugin (entry point ``pytest11``): fixtures that load state machines
for tests, with virtual time, a fixed seed and mocks by state name; helpers for the path taken
and the history. It defines fixtures only, no hooks: a project that does not ask for these
fixtures runs exactly as without the plugin.

    def test_declined_card_is_released(sm_load, sm_mock):
        saga = sm_load("definitions/order_saga.yaml")
        execution = saga.run(ORDER, mocks=sm_mock(ChargePayment=sm_mock.throw("PaymentDeclined")))
        assert_path(execution, ["ReserveInventory", "ChargePayment", "ReleaseInventory", "OrderFailed"])

Fixtures: ``sm_load(path, **load_options)`` -> a ``TestMachine`` whose ``run``/``start``/
``run_async`` default to ``virtual_time=True`` and ``seed=sm_seed``; ``sm_seed`` (0; override
the fixture to change it); ``sm_mock(**{state: response})`` -> a MockPlan, where a response is
a JSON value to return, ``sm_mock.throw(error, cause)``, a list of those (one per invocation,
the last repeating), or AWS mock-file responses (``{"0": {"Return": ...}}``);
``sm_mock_config(path, machine, case)`` -> the MockPlan of a MockConfigFile test case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the package is imported when a fixture is used, not when pytest starts
    from statemachine.testing.mockconfig import MockedResponses, MockResponse
    from statemachine.testing.mocks import MockPlan
    from statemachine.values import JSON

__all__ = ["TestMachine", "assert_path", "events", "sm_load", "sm_mock", "sm_mock_config", "sm_seed"]


class TestMachine:
    """A StateMachine whose runs default to virtual time and a fixed seed."""

    __test__ = False

    def __init__(self, machine: Any, seed: int) -> None:
        self.machine = machine
        self.seed = seed

    def _defaults(self, options: dict[str, Any]) -> dict[str, Any]:
        options.setdefault("virtual_time", True)
        if "rng" not in options:
            options.setdefault("seed", self.seed)
        return options

    def run(self, input: JSON = None, **options: Any) -> Any:
        return self.machine.run(input, **self._defaults(options))

    async def run_async(self, input: JSON = None, **options: Any) -> Any:
        return await self.machine.run_async(input, **self._defaults(options))

    def start(self, input: JSON = None, **options: Any) -> Any:
        return self.machine.start(input, **self._defaults(options))

    def test_state(self, state: str, input: JSON = None, **options: Any) -> Any:
        options.setdefault("seed", self.seed)
        return self.machine.test_state(state, input, **options)

    def __getattr__(self, name: str) -> Any:  # definition, name, arn, compiled ...
        return getattr(self.machine, name)


class _Throw:
    def __init__(self, error: str, cause: str | None = None) -> None:
        self.error = error
        self.cause = cause


class MockBuilder:
    """``sm_mock(State=value, Other=sm_mock.throw("Err", "cause"))`` -> MockPlan."""

    @staticmethod
    def throw(error: str, cause: str | None = None) -> Any:
        return _Throw(error, cause)

    def __call__(self, mocks: Mapping[str, Any] | None = None, /, **by_state: Any) -> MockPlan:
        from statemachine.testing.mocks import MockPlan

        merged = {**(mocks or {}), **by_state}
        return MockPlan({state: _responses(state, spec) for state, spec in merged.items()})


def _one(spec: Any) -> MockResponse:
    from statemachine.testing.mockconfig import MockResponse

    if isinstance(spec, _Throw):
        return MockResponse(error=spec.error, cause=spec.cause)
    return MockResponse(value=spec)


def _responses(state: str, spec: Any) -> MockedResponses:
    from statemachine.testing.mockconfig import MockedResponses, MockResponse

    if isinstance(spec, MockedResponses):
        return spec
    if isinstance(spec, dict) and spec and all(isinstance(k, str) and k.split("-")[0].isdigit() for k in spec):
        from statemachine.testing.mockconfig import _Source, parse_responses

        return parse_responses(state, spec, _Source(None, "<sm_mock>"), "")
    if isinstance(spec, list):
        ranges = tuple((i, i, _one(item)) for i, item in enumerate(spec))
        return MockedResponses(state, ranges or ((0, 0, MockResponse(value=None)),), repeat_last=True)
    return MockedResponses(state, ((0, 0, _one(spec)),), repeat_last=True)


def assert_path(execution: Any, expected: Sequence[str]) -> None:
    """Fail the test unless ``execution`` entered exactly the states ``expected``, in order."""
    from statemachine.testing.testfile import path_of

    taken = path_of(execution.history)
    assert taken == list(expected), f"path taken: {taken}\nexpected:   {list(expected)}"


def events(execution: Any, type: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
    """History events (AWS dicts), optionally of one ``type`` (``TaskFailed``) and/or those
    between entering and leaving ``state``."""
    found: list[dict[str, Any]] = []
    inside = state is None
    for event in execution.history:
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
        if state is not None and event["type"].endswith("StateEntered"):
            inside = details.get("name") == state
        if inside and (type is None or event["type"] == type):
            found.append(event)
        if state is not None and event["type"].endswith("StateExited") and details.get("name") == state:
            inside = False
    return found


@pytest.fixture
def sm_seed() -> int:
    """The seed of every run made through ``sm_load`` machines (override to change)."""
    return 0


@pytest.fixture
def sm_load(sm_seed: int) -> Callable[..., TestMachine]:
    """``sm_load(path_or_definition, **load_options)``: a TestMachine (virtual time, seeded);
    a str is a file name when it names a .yaml/.json file, else definition text.
    Resources without a handler are accepted when only mocked states will use them."""
    def load(source: Any, **options: Any) -> TestMachine:
        from statemachine.testing.mocks import load_for_test

        return TestMachine(load_for_test(source, **options), sm_seed)

    return load


@pytest.fixture
def sm_mock() -> MockBuilder:
    """Mocks by state name: ``sm_mock(State=value)`` / ``sm_mock.throw(error, cause)``."""
    return MockBuilder()


@pytest.fixture
def sm_mock_config() -> Callable[..., MockPlan]:
    """``sm_mock_config(path, machine, case, states=None)``: a MockConfigFile test case."""
    def plan(path: str | Path, machine: str, case: str, states: Any = None) -> MockPlan:
        from statemachine.testing.mockconfig import load_mock_config
        from statemachine.testing.mocks import MockPlan, state_types

        names = state_types(states.definition) if hasattr(states, "definition") else states
        return MockPlan(load_mock_config(path).test_case(machine, case, names))

    return plan


