"""Testing stage, mocks at run time: a ``TestCase`` (state name -> mocked responses) in, the
resource resolver of one execution out, which answers mocked states from the test case and
sends every other state to its real handler.

Mocks apply by *state name* (what AWS's MockConfigFile keys on), whatever the Resource and the
integration pattern: request-response and ``.sync`` tasks return the mocked value;
``.waitForTaskToken`` tasks complete their callback at once with it (the handler is not
called, no one has to send the token); activities are mocked like any Task. A ``Throw`` fails
the attempt with its Error and Cause, so Retry and Catch apply as they would in AWS.

``MockPlan`` is what ``StateMachine.run(..., mocks=plan)`` takes: it is immutable and can be
shared by runs; ``bind`` makes the per-execution part (invocation counters).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from statemachine import errors
from statemachine.errors import ResourceNotFoundError, StatesError
from statemachine.testing.mockconfig import MockedResponses, MockResponse, TestCase
from statemachine.values import JSON

if TYPE_CHECKING:
    from statemachine.interpreter.execution import Runtime
    from statemachine.resources.base import TaskRequest
    from statemachine.resources.registry import ResourceRegistry

__all__ = ["MockPlan", "always", "placeholder_registry", "state_types", "task_states"]


def always(response: MockResponse, name: str = "inline") -> MockedResponses:
    """Mocked responses that give ``response`` on every invocation."""
    return MockedResponses(name, ((0, 0, response),), repeat_last=True)


class MockPlan:
    """The mocks of one test case; ``calls`` after a run is not kept here (see ``bind``)."""

    def __init__(self, case: TestCase | Mapping[str, MockedResponses]) -> None:
        self.states: Mapping[str, MockedResponses] = (
            case.states if isinstance(case, TestCase) else dict(case))

    def bind(self, runtime: Runtime) -> Callable[[str], Any]:
        """The resolver an execution uses: ``resource -> handler`` (mock-aware)."""
        counts: dict[str, int] = {}
        real = runtime.resolve
        states = self.states

        def resolve(resource: str) -> Any:
            return _Dispatch(resource, real, states, counts, runtime)

        return resolve


class _Dispatch:
    """Handler for one Resource: a mocked state's answer, or the real handler's."""

    __slots__ = ("_counts", "_real", "_resource", "_runtime", "_states")

    def __init__(self, resource: str, real: Callable[[str], Any], states: Mapping[str, MockedResponses],
                 counts: dict[str, int], runtime: Runtime) -> None:
        self._resource = resource
        self._real = real
        self._states = states
        self._counts = counts
        self._runtime = runtime

    async def __call__(self, request: TaskRequest) -> JSON:
        mocked = self._states.get(request.state_name)
        if mocked is None:
            return await self._call_real(request)
        invocation = self._counts.get(request.state_name, 0)
        self._counts[request.state_name] = invocation + 1
        response = mocked.at(invocation)
        if response is None:  # Step Functions Local fails the execution (States.Runtime)
            raise StatesError(errors.RUNTIME, f"No mocked response for invocation {invocation} of state "
                              f"{request.state_name!r}: mocked response {mocked.name!r} covers "
                              f"invocations {mocked.covered()}")
        if response.throws:
            raise StatesError(response.error or "", response.cause)
        if request.task_token is not None:  # the callback arrives at once
            future = self._runtime.tokens.get(request.task_token)
            if future is not None and not future.done():
                future.set_result(response.value)
            return None
        value: JSON = response.value
        return value

    async def _call_real(self, request: TaskRequest) -> JSON:
        handler = self._real(self._resource)
        if _is_async(handler):
            result: Any = await handler(request)
            return result
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._runtime.executor(), handler, request)
        if inspect.isawaitable(result):
            result = await result
        return result


def _is_async(handler: Any) -> bool:
    call = type(handler).__call__ if not inspect.isfunction(handler) else None
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


def task_states(definition: Mapping[str, JSON]) -> Iterator[tuple[str, str]]:
    """(state name, Resource) of every Task, nested Parallel branches and Map processors too."""
    states = definition.get("States")
    if not isinstance(states, dict):
        return
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        if state.get("Type") == "Task" and isinstance(state.get("Resource"), str):
            yield name, str(state["Resource"])
        for branch in state.get("Branches", ()) if isinstance(state.get("Branches"), list) else ():
            if isinstance(branch, dict):
                yield from task_states(branch)
        for key in ("ItemProcessor", "Iterator"):
            inner = state.get(key)
            if isinstance(inner, dict):
                yield from task_states(inner)


def state_names(definition: Mapping[str, JSON]) -> set[str]:
    """Every state name of a definition, nested ones included."""
    return set(state_types(definition))


def state_types(definition: Mapping[str, JSON]) -> dict[str, str]:
    """State name -> its Type, for every state of a definition, nested ones included."""
    found: dict[str, str] = {}
    states = definition.get("States")
    if not isinstance(states, dict):
        return found
    for name, state in states.items():
        if not isinstance(state, dict):
            found[name] = ""
            continue
        found[name] = str(state.get("Type", ""))
        for branch in state.get("Branches", ()) if isinstance(state.get("Branches"), list) else ():
            if isinstance(branch, dict):
                found.update(state_types(branch))
        for key in ("ItemProcessor", "Iterator"):
            inner = state.get(key)
            if isinstance(inner, dict):
                found.update(state_types(inner))
    return found


def placeholder_registry(registry: ResourceRegistry, definition: Mapping[str, JSON],
                         mocked: set[str] | None) -> ResourceRegistry:
    """``registry`` plus a stand-in for each Resource that has no handler but is used only by
    mocked states (``mocked`` None: by any state). The stand-in fails the task, naming the
    state and resource, if an unmocked state reaches it after all."""
    users: dict[str, set[str]] = {}
    for state, resource in task_states(definition):
        users.setdefault(resource, set()).add(state)
    missing = {resource: names for resource, names in users.items() if resource not in registry}
    stand_ins: dict[str, Any] = {resource: _Unmocked(resource) for resource, names in missing.items()
                 if mocked is None or names <= mocked}
    return registry.with_handlers(stand_ins) if stand_ins else registry


class _Unmocked:
    """Stand-in handler of a Resource only mocked states were expected to use."""

    def __init__(self, resource: str) -> None:
        self.resource = resource

    def __call__(self, request: TaskRequest) -> JSON:
        raise ResourceNotFoundError(f"state {request.state_name!r} has no mock in this test "
                                    f"case and no handler for Resource {self.resource!r}")


def load_for_test(source: Any, *, mocked: set[str] | None = None, resources: Any = None,
                  resource_map: Any = None, name: str | None = None,
                  substitutions: Mapping[str, str] | None = None) -> Any:
    """``statemachine.load`` for mocked runs: a Resource without a handler is accepted when
    only mocked states use it (``mocked`` None: whichever states a test case will mock).
    Returns a StateMachine; raises what ``load`` raises."""
    from pathlib import Path

    from statemachine.api import load
    from statemachine.loader import load_source
    from statemachine.resources.registry import ResourceRegistry, coerce_registry

    doc = load_source(source, name=name, substitutions=substitutions)
    base_dir = Path(doc.path).parent if doc.path and not doc.path.startswith("<") else None
    if isinstance(resources, ResourceRegistry):
        registry = resources
    else:
        registry = coerce_registry(resources, resource_map, base_dir=base_dir)
    definition = doc.data if isinstance(doc.data, dict) else {}
    registry = placeholder_registry(registry, definition, mocked)
    # name None: load() names the machine after the file, and its messages keep the file's name
    return load(source, resources=registry, name=name, validation_cache=True,
                substitutions=substitutions)
