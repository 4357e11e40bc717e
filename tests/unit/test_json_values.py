"""What counts as JSON at the library's edges (issue 9, items 13 and 14).

An execution input that is not JSON -- NaN/Infinity (not JSON numbers), a lone surrogate (not
Unicode text), a non-string key, a set, nesting over ``values.MAX_DEPTH`` -- is refused by
run(), start() and run_async() before anything runs, the way AWS's StartExecution refuses it
(InvalidExecutionInput); allowed depths work through every reader (history, to_dict, stores,
on_event). A task result that is not JSON fails the state with States.Runtime.
"""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

import statemachine
from statemachine.store import MemoryStore, SqliteStore
from statemachine.values import MAX_DEPTH, InvalidJsonError, check_json, json_problem, parse_json

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def _nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(("value", "problem"), [
    ({"a": [1, float("nan")]}, "nan is not a JSON number at $.a[1]"),
    ({"a": float("inf")}, "inf is not a JSON number at $.a"),
    ("\ud800", "a lone UTF-16 surrogate in a string at $"),
    ({"\udfff": 1}, "a lone UTF-16 surrogate in an object key at $"),
    ({1: 2}, "an object key must be a string, not 1, at $"),
    ({"s": {1, 2}}, "a set is not a JSON value at $.s"),
    (_nested(MAX_DEPTH + 1), f"nested more than {MAX_DEPTH} levels deep"),
    ([[[]]] * 3, None),
    ({"é": "ü", "n": 1.5, "b": True, "z": None}, None),
    (_nested(MAX_DEPTH), None),
])
def test_json_problem(value: object, problem: str | None) -> None:
    assert json_problem(value) == problem


def test_parse_json_is_strict() -> None:
    with pytest.raises(InvalidJsonError, match="NaN is not a JSON number"):
        parse_json('{"a": NaN}')
    with pytest.raises(InvalidJsonError, match="nested more than"):
        parse_json("[" * 5000 + "]" * 5000)
    assert parse_json('{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}


@pytest.mark.parametrize("value", [
    {"a": float("nan")}, {"a": float("-inf")}, "\ud800", {"s": {1}}, _nested(1500)])
def test_every_entry_point_refuses_input_that_is_not_json(value: object) -> None:
    machine = statemachine.load(PASS)
    with pytest.raises(InvalidJsonError, match=r"^execution input is not valid JSON: "):
        machine.run(value)
    with pytest.raises(InvalidJsonError):
        machine.start(value)
    with pytest.raises(InvalidJsonError):
        asyncio.run(machine.run_async(value))
    store = MemoryStore()
    with pytest.raises(InvalidJsonError):
        machine.run(value, store=store)
    assert store.executions() == []  # nothing was started


def test_the_deepest_allowed_input_works_everywhere() -> None:
    value = _nested(MAX_DEPTH)
    machine = statemachine.load({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Result": {"k": [1]}, "ResultPath": "$.x", "Next": "J"},
        "J": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.input %}", "End": True}}})
    seen: list[dict] = []
    for store in (MemoryStore(), SqliteStore()):
        execution = machine.run(value, store=store, on_event=seen.append)
        assert execution.status == "SUCCEEDED"
        assert execution.output["x"] == {"k": [1]}
        assert len(execution.history) == 6
        json.dumps(execution.to_dict())
        assert len(store.history(execution.execution_arn)) == 6
    started = machine.start(value).wait(60)
    assert started.status == "SUCCEEDED" and len(started.history) == 6
    assert seen


def test_check_json_names_what_it_checked() -> None:
    with pytest.raises(InvalidJsonError, match=r"^payload is not valid JSON: inf is not"):
        check_json(float("inf"), "payload")


@pytest.mark.parametrize("result", [float("nan"), {"a": float("inf")}, {"s": {1, 2}}])
def test_a_task_result_that_is_not_json_fails_the_state(result: object) -> None:
    async def handler(request: object) -> object:  # an async handler: no marshalling in between
        return result

    from statemachine.resources.base import TaskRequest

    async def typed(request: TaskRequest) -> object:
        return await handler(request)

    machine = statemachine.load(
        {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "custom:nan", "End": True}}},
        resources={"custom:nan": typed})
    execution = machine.run({})
    assert execution.status == "FAILED"
    assert execution.error == "States.Runtime"
    assert "returned a result that is not valid JSON" in (execution.cause or "")


# -- data that grows deeper while the execution runs (issue 9, item 13) ---------------------------

def _wrapping_loop(levels: int) -> dict[str, object]:
    """Each turn nests the state's data one level deeper ({"x": previous})."""
    return {"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Assign": {"n": 0}, "Next": "Wrap"},
        "Wrap": {"Type": "Pass", "Parameters": {"x.$": "$"},
                 "Assign": {"n.$": "States.MathAdd($n, 1)"}, "Next": "Enough?"},
        "Enough?": {"Type": "Choice", "Default": "Wrap", "Choices": [
            {"Variable": "$n", "NumericGreaterThanEquals": levels, "Next": "Done"}]},
        "Done": {"Type": "Succeed"}}}


def test_data_nested_deeper_while_running_fails_the_run_and_history_still_renders() -> None:
    from statemachine.store import MemoryStore

    seen: list[dict[str, object]] = []
    store = MemoryStore()
    execution = statemachine.load(_wrapping_loop(1200)).run({}, store=store, on_event=seen.append)
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
    assert execution.cause == ("The execution's output is not valid JSON: "
                               "nested more than 512 levels deep.")
    history = execution.history  # rendering the 1,200-level payloads must not raise
    assert history[-1]["type"] == "ExecutionFailed"
    assert len(seen) == len(history) == len(store.history(execution.execution_arn))
    deepest = max(len(e["stateEnteredEventDetails"]["input"]) for e in history
                  if e["type"] == "PassStateEntered")
    assert deepest > 1000 * len('{"x":')  # the real payload, not a placeholder


def test_data_that_stays_shallow_enough_succeeds() -> None:
    execution = statemachine.load(_wrapping_loop(100)).run({})
    assert execution.status == "SUCCEEDED"
    text = json.dumps(execution.output, separators=(",", ":"))
    assert text == '{"x":' * 100 + "{}" + "}" * 100


@pytest.mark.parametrize("separators", [None, (",", ":")])
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_dumps_writes_deep_values_as_json_does_shallow_ones(separators: tuple[str, str] | None,
                                                            ensure_ascii: bool) -> None:
    from statemachine.values import dumps

    leaf = {"a": [1, "é\n", None, True, 1.5, {"b": {}}, []], "c": "x"}
    assert dumps(leaf, separators=separators, ensure_ascii=ensure_ascii) == json.dumps(
        leaf, separators=separators, ensure_ascii=ensure_ascii)
    pairs = sys.getrecursionlimit() // 2 + 500  # past the limit (jsonata-python raises it to 10,000)
    deep: object = leaf
    for _ in range(2 * pairs):
        deep = [deep] if isinstance(deep, dict) else {"k": deep}
    with pytest.raises(RecursionError):
        json.dumps(deep)
    key = (separators or (", ", ": "))[1]
    expected = ('{"k"' + key + "[") * pairs + json.dumps(
        leaf, separators=separators, ensure_ascii=ensure_ascii) + "]}" * pairs
    assert dumps(deep, separators=separators, ensure_ascii=ensure_ascii) == expected
