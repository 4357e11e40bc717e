"""Testing stage, TestState: one state of a compiled machine, an input and AWS's TestState
options in, AWS's TestState response out (``TestStateResult``), offline.

Follows the TestState API reference: ``inspectionLevel`` INFO (output, error, cause,
nextState, status), DEBUG and TRACE (also ``inspectionData``: input, afterInputPath,
afterParameters or afterArguments, result, afterResultSelector, afterResultPath, variables,
errorDetails{retryIndex, retryBackoffIntervalSeconds | catchIndex}); ``status`` SUCCEEDED,
FAILED, RETRIABLE (a Retry would run the state again: ``nextState`` is the state itself) or
CAUGHT_ERROR (a Catch handled it: ``nextState`` is its target, ``output`` its result);
``mock`` ``{"result": "<JSON text>"}`` or ``{"errorOutput": {"error", "cause"}}`` stands in for
the state's work, and Activity, ``.sync`` and ``.waitForTaskToken`` Tasks, Map and Parallel
states are only tested with one (AWS: "TestState only supports the following when a mock is
specified"); ``stateConfiguration.retrierRetryCount`` is the retries already made (default 0).

The state itself runs through the interpreter's own handler (``interpreter.HANDLERS``) and
data-flow functions (``interpreter.dataflow``), under a virtual clock (a Wait returns at once):
what TestState reports is what an execution would do. Deviations: TRACE adds nothing over
DEBUG (HTTP request/response details are not recorded), ``mapIterationFailureCount`` and
``revealSecrets`` are accepted and not simulated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from statemachine import errors
from statemachine.errors import StateMachineError, StatesError
from statemachine.expressions.jsonpath import PathNotFound
from statemachine.expressions.scope import Scope
from statemachine.model import CompiledMachine, MapState, ParallelState, State, TaskState
from statemachine.values import JSON, MISSING

__all__ = ["TestStateError", "TestStateResult", "test_state"]

INSPECTION_LEVELS = ("INFO", "DEBUG", "TRACE")
_CONFIG_FIELDS = {"retrierRetryCount", "errorCausedByState", "mapIterationFailureCount", "mapItemReaderData"}


class TestStateError(StateMachineError):
    """The request cannot be served (AWS: ValidationException): unknown state, a state that
    needs a mock, a bad mock or option."""

    __test__ = False


@dataclasses.dataclass
class TestStateResult:
    """AWS's TestState response; values are JSON values (``to_dict`` gives the wire form,
    where output and inspectionData values are JSON text)."""

    __test__ = False
    status: str
    output: JSON = MISSING
    error: str | None = None
    cause: str | None = None
    next_state: str | None = None
    inspection_data: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The response as AWS sends it (camelCase; JSON values as compact JSON text)."""
        body: dict[str, Any] = {}
        if self.output is not MISSING:
            body["output"] = _text(self.output)
        if self.error is not None:
            body["error"] = self.error
        if self.cause is not None:
            body["cause"] = self.cause
        if self.inspection_data is not None:
            body["inspectionData"] = {key: value if key == "errorDetails" else _text(value)
                                      for key, value in self.inspection_data.items()}
        if self.next_state is not None:
            body["nextState"] = self.next_state
        body["status"] = self.status
        return body


def _text(value: JSON) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclasses.dataclass
class _Request:
    state: State
    machine: CompiledMachine
    query_language: str
    input: JSON
    level: str
    mock: Mapping[str, Any] | None
    variables: dict[str, JSON]
    context: Mapping[str, JSON]
    retry_count: int


def test_state(machine: Any, state: str, input: JSON = None, *, inspection_level: str = "INFO",
               mock: Mapping[str, Any] | None = None, variables: Mapping[str, JSON] | None = None,
               context: Mapping[str, JSON] | None = None,
               state_configuration: Mapping[str, JSON] | None = None,
               seed: int | None = None, reveal_secrets: bool = False) -> TestStateResult:
    """Test ``state`` (a name, nested states included) of ``machine`` (a StateMachine).

    ``mock``: ``{"result": "<JSON text>"}`` or ``{"errorOutput": {"error": E, "cause": C}}``
    (``fieldValidationMode`` accepted); ``variables``: the workflow variables the state sees;
    ``context``: fields of the context object ``$$`` to use (``Execution``, ``StateMachine``,
    ``State``, ``Task``, ``Map``: merged over what the state would see);
    ``state_configuration``: ``{"retrierRetryCount": n, ...}``; ``reveal_secrets`` is
    accepted for AWS's signature (nothing here hides secrets). Raises TestStateError.
    """
    request = _request(machine, state, input, inspection_level, mock, variables, context,
                       state_configuration)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_test(machine, request, seed))
    # called from async code: a private loop in a helper thread, as StateMachine.run does
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _test(machine, request, seed)).result()


def _request(machine: Any, name: str, input: JSON, level: str, mock: Mapping[str, Any] | None,
             variables: Mapping[str, JSON] | None, context: Mapping[str, JSON] | None,
             configuration: Mapping[str, JSON] | None) -> _Request:
    if level not in INSPECTION_LEVELS:
        raise TestStateError(f"inspection_level must be one of {', '.join(INSPECTION_LEVELS)}: {level!r}")
    found = _find(machine.compiled, name)
    if found is None:
        raise TestStateError(f"no state named {name!r} in the definition")
    state, owner = found
    for field, given in (("variables", variables), ("context", context), ("state_configuration", configuration)):
        if given is not None and not isinstance(given, Mapping):
            raise TestStateError(f"{field} must be a JSON object, not {type(given).__name__}")
    _check_mock(state, mock)
    configuration = dict(configuration or {})
    unknown = set(configuration) - _CONFIG_FIELDS
    if unknown:
        raise TestStateError(f"unknown stateConfiguration field {sorted(unknown)[0]!r}")
    caused_by = configuration.get("errorCausedByState")
    if caused_by is not None and (not isinstance(state, (MapState, ParallelState))
                                  or _find(_inner(state), str(caused_by)) is None):
        raise TestStateError(f"errorCausedByState {caused_by!r} must name a state inside the "
                             "tested Map or Parallel state")
    for field in ("retrierRetryCount", "mapIterationFailureCount"):
        count = configuration.get(field, 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise TestStateError(f"{field} must be an integer >= 0")
    retries = configuration.get("retrierRetryCount", 0)
    assert isinstance(retries, int)
    raw_state = _raw_state(owner.definition, name)
    language = str(raw_state.get("QueryLanguage", owner.query_language))
    return _Request(state, owner, language, {} if input is None else input, level, mock,
                    dict(variables or {}), dict(context or {}), retries)


def _find(machine: CompiledMachine, name: str) -> tuple[State, CompiledMachine] | None:
    if name in machine.states:
        return machine.states[name], machine
    for state in machine.states.values():
        inner: tuple[CompiledMachine, ...] = ()
        if isinstance(state, ParallelState):
            inner = state.branches
        elif isinstance(state, MapState) and state.processor is not None:
            inner = (state.processor,)
        for child in inner:
            found = _find(child, name)
            if found is not None:
                return found
    return None


def _inner(state: State) -> CompiledMachine:
    """A Map's processor, or a Parallel's branches as one machine to search."""
    if isinstance(state, MapState) and state.processor is not None:
        return state.processor
    branches = state.branches if isinstance(state, ParallelState) else ()
    merged = {name: inner for branch in branches for name, inner in branch.states.items()}
    return CompiledMachine(start_at="", states=merged, table={})


def _raw_state(definition: Mapping[str, JSON], name: str) -> Mapping[str, JSON]:
    states = definition.get("States")
    state = states.get(name) if isinstance(states, dict) else None
    return state if isinstance(state, dict) else {}


def needs_mock(state: State) -> bool:
    """AWS: Activity tasks, .sync and .waitForTaskToken integrations, Map and Parallel states
    are tested only with a mock."""
    if isinstance(state, (MapState, ParallelState)):
        return True
    return isinstance(state, TaskState) and (
        state.integration != "request-response" or ":activity:" in state.resource)


def _check_mock(state: State, mock: Mapping[str, Any] | None) -> None:
    if mock is None:
        if needs_mock(state):
            raise TestStateError(f"state {state.name!r} ({state.type}) can only be tested with a mock "
                                 "(Activity, .sync, .waitForTaskToken, Map and Parallel states)")
        return
    if not isinstance(state, (TaskState, MapState, ParallelState)):
        raise TestStateError(f"a mock applies to Task, Map and Parallel states, not to {state.type} state {state.name!r}")
    if not isinstance(mock, Mapping) or set(mock) - {"result", "errorOutput", "fieldValidationMode"}:
        raise TestStateError("mock takes result, errorOutput and fieldValidationMode")
    if ("result" in mock) == ("errorOutput" in mock):
        raise TestStateError("mock needs exactly one of result or errorOutput")
    if "errorOutput" in mock:
        output = mock["errorOutput"]
        if not isinstance(output, Mapping) or not isinstance(output.get("error"), str) or \
                not isinstance(output.get("cause", ""), str) or set(output) - {"error", "cause"}:
            raise TestStateError("mock.errorOutput needs error (a string) and may have cause (a string)")
    elif isinstance(mock["result"], str):
        try:
            json.loads(mock["result"])
        except ValueError as exc:
            raise TestStateError(f"mock.result is not JSON text: {exc}") from None


def _mock_result(request: _Request) -> JSON:
    assert request.mock is not None
    result = request.mock["result"]
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError as exc:
            raise TestStateError(f"mock.result is not JSON text: {exc}") from None
    if isinstance(request.state, MapState) and not isinstance(result, list) and \
            request.mock.get("fieldValidationMode", "STRICT") != "NONE":
        raise TestStateError("the mocked result of a Map state must be a JSON array")
    return result


# -- running ----------------------------------------------------------------------------------
async def _test(machine: Any, request: _Request, seed: int | None) -> TestStateResult:
    from statemachine.api import ACCOUNT, REGION, ROLE_ARN
    from statemachine.clock import VirtualClock, format_timestamp
    from statemachine.interpreter.execution import Frame, Runtime, StateRun
    from statemachine.randomness import execution_rng, new_seed

    seed = new_seed() if seed is None else seed
    clock = VirtualClock()
    name = "TestState"
    execution_ctx: dict[str, JSON] = {
        "Id": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine.name}:{name}", "Input": request.input,
        "StartTime": format_timestamp(clock.now()), "Name": name, "RoleArn": ROLE_ARN, "RedriveCount": 0}
    execution_ctx.update(_object(request.context.get("Execution")))
    machine_ctx: dict[str, JSON] = {"Id": machine.arn, "Name": machine.name}
    machine_ctx.update(_object(request.context.get("StateMachine")))
    recorder = _Recorder(request, machine)
    overrides = {key: value for key, value in request.context.items()
                 if key not in ("Execution", "StateMachine")}

    class TestRuntime(Runtime):
        """The interpreter's Runtime, with the caller's context fields (``State``, ``Task``,
        ``Map``, ...) laid over the context object each state builds."""

        def context(self, run: Any, token: str | None = None, retry: bool = False) -> JSON:
            built = super().context(run, token, retry)
            return _overlay(built, overrides) if overrides else built

    runtime = TestRuntime(clock=clock, rng=execution_rng(seed), resolve=recorder.resolve,
                          execution_ctx=execution_ctx, machine_ctx=machine_ctx)
    recorder.runtime = runtime
    frame = Frame(dict(request.variables), 0)
    run = StateRun(request.state, 1, clock.now())
    run.retry_count = request.retry_count
    trace_ctx = runtime.context(run, retry=isinstance(request.state, TaskState))
    try:
        outcome = await _run(runtime, request, frame, run, recorder)
    finally:
        runtime.close()
    return _result(request, outcome, recorder, trace_ctx, seed)


def _overlay(base: JSON, extra: Mapping[str, JSON]) -> JSON:
    """``base`` with ``extra`` laid over it, objects merged key by key."""
    if not isinstance(base, dict):
        return dict(extra)
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _overlay(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def _object(value: JSON) -> dict[str, JSON]:
    return dict(value) if isinstance(value, dict) else {}


class _Recorder:
    """The resolver of the test's Runtime: the mock, or the real handler, remembering the
    state's raw result (inspectionData.result)."""

    def __init__(self, request: _Request, machine: Any) -> None:
        self.request = request
        self.handlers = machine._handlers
        self.result: JSON = MISSING
        self.runtime: Any = None

    def resolve(self, resource: str) -> Any:
        async def call(task: Any) -> JSON:
            if self.request.mock is not None:
                if "errorOutput" in self.request.mock:
                    output = self.request.mock["errorOutput"]
                    raise StatesError(output["error"], output.get("cause"))
                value = _mock_result(self.request)
                if task.task_token is not None:  # the callback answers at once
                    self.runtime.tokens[task.task_token].set_result(value)
                    self.result = value
                    return None
            else:
                from statemachine.testing.mocks import _Dispatch

                dispatch = _Dispatch(resource, self.handlers.__getitem__, {}, {}, self.runtime)
                value = await dispatch(task)
            self.result = value
            return value

        return call


@dataclasses.dataclass
class _Outcome:
    output: JSON = MISSING
    trigger: str | None = None
    assigned: Mapping[str, JSON] | None = None
    error: str | None = None
    cause: str | None = None
    failed: bool = False


async def _run(rt: Any, request: _Request, frame: Any, run: Any, recorder: _Recorder) -> _Outcome:
    state = request.state
    try:
        if isinstance(state, (MapState, ParallelState)):
            output, trigger, assigned = _mocked_container(rt, request, frame, run, recorder)
        else:
            output, trigger, assigned = await _handler(rt, state)(rt, state, request.input, frame, run)
    except (StatesError, PathNotFound) as exc:
        if isinstance(exc, PathNotFound):
            exc = StatesError(errors.RUNTIME, exc.invalid_path_message())
        return _Outcome(error=exc.name, cause=exc.cause, failed=True)
    except Exception as exc:
        failure = _failure(exc)
        if failure is None:
            raise
        return _Outcome(error=failure[0], cause=failure[1], failed=True)
    return _Outcome(output, trigger, assigned)


def _handler(rt: Any, state: State) -> Any:
    """The interpreter's handler of this state type: the Runtime's table where it has one,
    else the module-level table (both spellings of the interpreter are supported)."""
    table = getattr(rt, "handlers", None)
    if table is None:
        from statemachine.interpreter import execution

        table = vars(execution)["HANDLERS"]  # the interpreter before its table moved to handlers.py
    return table[state.__class__]


def _failure(exc: Exception) -> tuple[str | None, str | None] | None:
    """(error, cause) of the interpreter's internal failure exception, None for anything else."""
    if type(exc).__name__ == "Failure" and hasattr(exc, "error"):
        return exc.error, getattr(exc, "cause", None)
    return None


def _mocked_container(rt: Any, request: _Request, frame: Any, run: Any, recorder: _Recorder) -> Any:
    """Map/Parallel with a mock: the mock is the branches' result; the state's own data flow
    (InputPath, Parameters/ItemSelector are not run per item) then ResultSelector, ResultPath,
    OutputPath or Output, and Assign."""
    from statemachine.interpreter import dataflow

    state = request.state
    assert request.mock is not None
    if "errorOutput" in request.mock:
        output = request.mock["errorOutput"]
        raise StatesError(output["error"], output.get("cause"))
    ctx = rt.context(run)
    raw = request.input
    dataflow.effective_input(_input_side(state), raw, ctx, frame.variables, rt.rng)
    result = recorder.result = _mock_result(request)
    flow = state.flow
    result = dataflow.select_result(flow, result, ctx, frame.variables, rt.rng)
    assigned = None
    if flow.assign is not MISSING:
        assigned = dataflow.assignments(flow.assign, flow.assign_on_result, raw, result, ctx,
                                        frame.variables, rt.rng)
    return dataflow.state_output(flow, raw, result, ctx, frame.variables, rt.rng), state.trigger, assigned


def _input_side(state: State) -> Any:
    """The state's InputPath only (a Map's Parameters is its ItemSelector: per item)."""
    from statemachine.model import DataFlow

    return DataFlow(input_path=state.flow.input_path)


# -- the response -----------------------------------------------------------------------------
def _result(request: _Request, outcome: _Outcome, recorder: _Recorder, ctx: JSON, seed: int) -> TestStateResult:
    state = request.state
    if not outcome.failed:
        next_state = None if outcome.trigger in (None, "end") else request.machine.table[state.name][outcome.trigger]
        variables = {**request.variables, **(outcome.assigned or {})}
        result = TestStateResult("SUCCEEDED", outcome.output, next_state=next_state)
        return _inspect(result, request, recorder, ctx, seed, variables, None)
    retry = _retriable(state, outcome.error, request.retry_count)
    if retry is not None:
        index, delay = retry
        result = TestStateResult("RETRIABLE", error=outcome.error, cause=outcome.cause, next_state=state.name)
        details = {"retryIndex": index, "retryBackoffIntervalSeconds": delay}
        return _inspect(result, request, recorder, ctx, seed, request.variables, details)
    caught = _caught(request, outcome, ctx, seed)
    if caught is not None:
        index, output, target, assigned = caught
        result = TestStateResult("CAUGHT_ERROR", output, outcome.error, outcome.cause, target)
        variables = {**request.variables, **(assigned or {})}
        return _inspect(result, request, recorder, ctx, seed, variables, {"catchIndex": index})
    result = TestStateResult("FAILED", error=outcome.error, cause=outcome.cause)
    return _inspect(result, request, recorder, ctx, seed, request.variables, None)


def _retriable(state: State, error: str | None, retries: int) -> tuple[int, int] | None:
    """(retryIndex, backoff seconds) when the first matching retrier allows another attempt."""
    from statemachine.interpreter.retry import backoff

    for index, retrier in enumerate(state.retriers):
        if errors.matches(error, retrier.error_equals):
            if retries >= retrier.max_attempts:
                return None
            plain = dataclasses.replace(retrier, jitter_full=False)  # the delay without jitter
            return index, int(backoff(plain, retries))
    return None


def _caught(request: _Request, outcome: _Outcome, ctx: JSON, seed: int) -> tuple[int, JSON, str, Any] | None:
    from statemachine.interpreter import dataflow
    from statemachine.randomness import execution_rng

    state = request.state
    for index, catcher in enumerate(state.catchers):
        if not errors.matches(outcome.error, catcher.error_equals):
            continue
        error_output: dict[str, JSON] = {}
        if outcome.error is not None:
            error_output["Error"] = outcome.error
        if outcome.cause is not None:
            error_output["Cause"] = outcome.cause
        rng = execution_rng(seed)
        raw = request.input
        assigned = None
        if catcher.assign is not MISSING:
            assigned = dataflow.assignments(catcher.assign, catcher.assign_on_result, raw, error_output,
                                            ctx, request.variables, rng, error_output)
        if catcher.output is not MISSING:
            output = catcher.output.evaluate(Scope(raw, ctx, request.variables, MISSING, error_output), rng)
        else:
            output = dataflow.apply_result_path(catcher.result_path, raw, error_output)
        return index, output, request.machine.table[state.name][catcher.trigger], assigned
    return None


def _inspect(result: TestStateResult, request: _Request, recorder: _Recorder, ctx: JSON, seed: int,
             variables: Mapping[str, JSON], details: Mapping[str, int] | None) -> TestStateResult:
    if request.level == "INFO":
        return result
    data = _data_flow(request, recorder.result, ctx, seed)
    if variables:
        data["variables"] = dict(variables)
    if details is not None:
        data["errorDetails"] = dict(details)
    result.inspection_data = data
    return result


def _data_flow(request: _Request, result: JSON, ctx: JSON, seed: int) -> dict[str, Any]:
    """input, afterInputPath, afterParameters/afterArguments, result, afterResultSelector,
    afterResultPath: each step as far as it got (a step that failed ends the list)."""
    from statemachine.interpreter import dataflow
    from statemachine.randomness import execution_rng

    state, raw, flow = request.state, request.input, request.state.flow
    rng = execution_rng(seed)
    variables = request.variables
    data: dict[str, Any] = {"input": raw}
    jsonpath = request.query_language != "JSONata"
    try:
        value = raw
        if jsonpath and state.type != "Fail":
            if flow.input_path is not MISSING:
                value = {} if flow.input_path is None else dataflow.select_path(flow.input_path, Scope(raw, ctx, variables))
            data["afterInputPath"] = value
        if isinstance(state, MapState) and jsonpath and state.items_path is not MISSING:
            data["afterItemsPath"] = dataflow.select_path(state.items_path, Scope(value, ctx, variables))
        if isinstance(state, MapState) and jsonpath and state.item_selector is not MISSING:
            items = data.get("afterItemsPath", value)
            if isinstance(items, list):  # each iteration's input, as the Map would build it
                base = ctx if isinstance(ctx, dict) else {}
                data["afterItemSelector"] = [
                    state.item_selector.evaluate(
                        Scope(value, {**base, "Map": {"Item": {"Index": index, "Value": item}}}, variables), rng)
                    for index, item in enumerate(items)]
        if state.type in ("Task", "Pass", "Map", "Parallel") and not isinstance(state, MapState):
            if flow.parameters is not MISSING:
                value = flow.parameters.evaluate(Scope(value, ctx, variables), rng)
            data["afterParameters" if jsonpath else "afterArguments"] = value
        if result is MISSING and state.type == "Pass":
            result = state.result if getattr(state, "result", MISSING) is not MISSING else value  # type: ignore[attr-defined]  # PassState
        if result is not MISSING:
            data["result"] = result
            if jsonpath:
                selected = dataflow.select_result(flow, result, ctx, variables, rng)
                data["afterResultSelector"] = selected
                data["afterResultPath"] = dataflow.apply_result_path(flow.result_path, raw, selected)
    except (StatesError, PathNotFound):
        pass
    return data
