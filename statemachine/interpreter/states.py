"""Interpreter stage: the handlers of the simple state types (Pass, Succeed, Fail, Wait, Choice).

A handler is ``async (rt, state, raw_input, frame, run) -> (output, trigger, assigned)``;
``assigned`` is the dict of variables the state's Assign produced (or None). Handlers raise
StatesError: data-flow failures plain (the caller adds AWS's prefix), errors that are
recorded as they are (Fail states) with ``recorded=True``. Task, Parallel and Map live in
their own modules; handlers.py puts them all in one table.

Wait: every wait ends within the execution's life (``Runtime.check_delay``); a SecondsPath
value beyond a Java long (AWS parses it as one) fails like any non-integer.
"""

from __future__ import annotations

import json
from typing import Any

from statemachine import errors
from statemachine.errors import StatesError
from statemachine.expressions.jsonpath import PathNotFound
from statemachine.expressions.scope import Scope
from statemachine.expressions.timestamps import parse_timestamp
from statemachine.interpreter import dataflow
from statemachine.interpreter.execution import Frame, Runtime, StateRun, check_size
from statemachine.model import (
    ChoiceState,
    FailState,
    NumberField,
    PassState,
    SucceedState,
    WaitState,
)
from statemachine.values import JSON, MISSING

__all__ = ["check_size", "resolve_field"]  # check_size lives in execution.py


def resolve_field(field: NumberField, value: JSON, ctx: JSON, variables: Any, rng: Any) -> JSON:
    """The value of a literal / ``...Path`` / JSONata field, read from ``value``."""
    if field.literal is not MISSING:
        return field.literal
    if field.path is not MISSING:
        return dataflow.select_path(field.path, Scope(value, ctx, variables))
    return field.expr.evaluate(Scope(value, ctx, variables), rng)  # type: ignore[union-attr]  # the compiler sets exactly one of literal / path / expr


def _assign(rt: Runtime, state: Any, raw: JSON, result: JSON, ctx: JSON, frame: Frame) -> Any:
    flow = state.flow
    if flow.assign is MISSING:
        return None
    return dataflow.assignments(flow.assign, flow.assign_on_result, raw, result, ctx,
                                frame.variables, rt.rng)


async def run_pass(rt: Runtime, state: PassState, raw: JSON, frame: Frame, run: StateRun) -> Any:
    flow = state.flow
    ctx = rt.context(run) if flow.needs_context else None
    variables = frame.variables
    value = dataflow.effective_input(flow, raw, ctx, variables, rt.rng)
    result = value
    if state.result is not MISSING:
        result = state.result
        frame.measured = (result, check_size(rt, result, state.name))
    assigned = _assign(rt, state, raw, result, ctx, frame)
    output = dataflow.state_output(flow, raw, result, ctx, variables, rt.rng)
    return output, state.trigger, assigned


async def run_succeed(rt: Runtime, state: SucceedState, raw: JSON, frame: Frame, run: StateRun) -> Any:
    flow = state.flow
    ctx = rt.context(run) if flow.needs_context else None
    value = dataflow.effective_input(flow, raw, ctx, frame.variables, rt.rng)
    output = dataflow.state_output(flow, raw, value, ctx, frame.variables, rt.rng)
    return output, "end", None


async def run_fail(rt: Runtime, state: FailState, raw: JSON, frame: Frame, run: StateRun) -> Any:
    ctx = rt.context(run) if state.flow.needs_context else None
    error = _fail_text(state.error, raw, ctx, frame, rt)
    cause = _fail_text(state.cause, raw, ctx, frame, rt)
    raise StatesError(error, cause, recorded=True)


def _fail_text(field: Any, raw: JSON, ctx: JSON, frame: Frame, rt: Runtime) -> str | None:
    if field is MISSING:
        return None
    if field.path is not MISSING:
        try:
            value = field.path.evaluate(Scope(raw, ctx, frame.variables))
        except PathNotFound:
            text = json.dumps(raw, separators=(",", ":"))
            raise StatesError(errors.RUNTIME, f"The JSONPath '{field.path.text}' specified for the "
                              f"field '{field.field}' could not be found in the input '{text}'") from None
    else:
        value = resolve_field(field, raw, ctx, frame.variables, rt.rng)
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


async def run_choice(rt: Runtime, state: ChoiceState, raw: JSON, frame: Frame, run: StateRun) -> Any:
    flow = state.flow
    ctx = rt.context(run) if flow.needs_context else None
    variables = frame.variables
    value = raw if flow.input_path is MISSING and flow.parameters is MISSING \
        else dataflow.effective_input(flow, raw, ctx, variables, rt.rng)
    scope = Scope(value, ctx, variables)
    for branch in state.choices:
        if branch.condition(scope, rt.rng):
            return _choice_exit(rt, state, raw, value, ctx, frame, branch.output, branch.assign,
                                branch.trigger)
    if not state.has_default:
        raise StatesError(errors.NO_CHOICE_MATCHED, "No Matches!", recorded=True)
    return _choice_exit(rt, state, raw, value, ctx, frame, flow.output, flow.assign, "default")


def _choice_exit(rt: Runtime, state: ChoiceState, raw: JSON, value: JSON, ctx: JSON, frame: Frame,
                 output_expr: Any, assign: Any, trigger: str) -> Any:
    flow = state.flow
    assigned = None
    if assign is not MISSING:
        assigned = dataflow.assignments(assign, flow.assign_on_result, raw, value, ctx,
                                        frame.variables, rt.rng)
    if output_expr is not MISSING:
        output = output_expr.evaluate(Scope(raw, ctx, frame.variables), rt.rng)
    elif flow.output_path is MISSING:
        output = value
    else:
        output = dataflow.apply_output_path(flow, value, ctx, frame.variables)
    return output, trigger, assigned


async def run_wait(rt: Runtime, state: WaitState, raw: JSON, frame: Frame, run: StateRun) -> Any:
    flow = state.flow
    ctx = rt.context(run) if flow.needs_context else None
    variables = frame.variables
    value = dataflow.effective_input(flow, raw, ctx, variables, rt.rng)
    if state.seconds is not MISSING:
        seconds = _wait_seconds(state.seconds, value, ctx, variables, rt)
        delay = rt.check_delay(float(seconds), f"The Wait state's {_field_name(state.seconds, 'Seconds')} == {seconds}")
    else:
        target, text = _wait_timestamp(state.timestamp, value, ctx, variables, rt)
        delay = target - rt.clock.now()
        if delay > 0:
            delay = rt.check_delay(delay, f"The Wait state's {_field_name(state.timestamp, 'Timestamp')} == {text}")
    assigned = _assign(rt, state, raw, value, ctx, frame)
    output = dataflow.state_output(flow, raw, value, ctx, variables, rt.rng)
    if delay > 0:
        await rt.clock.sleep(delay)
    return output, state.trigger, assigned


def _field_name(field: Any, plain: str) -> str:
    return f"{plain}Path {field.path.text}" if field.path is not MISSING else plain


#: AWS reads SecondsPath as a Java long: larger values "cannot be parsed as a long value".
_JAVA_LONG_MAX = 2**63 - 1


def _wait_seconds(field: NumberField, value: JSON, ctx: JSON, variables: Any, rt: Runtime) -> int:
    seconds = resolve_field(field, value, ctx, variables, rt.rng)
    if field.path is not MISSING:
        where = f"{field.path.text} == {_plain(seconds)}"
        if not _is_integer(seconds) or seconds > _JAVA_LONG_MAX:
            raise StatesError(errors.RUNTIME, f"The SecondsPath parameter cannot be parsed as a long value: {where}")
        if seconds < 0:
            raise StatesError(errors.RUNTIME, f"The SecondsPath parameter references a negative value: {where}")
    elif not _is_integer(seconds) or seconds < 0:
        raise StatesError(errors.QUERY_EVALUATION_ERROR,
                          f"The Seconds field must be a non-negative integer: {_plain(seconds)}")
    return int(seconds)


def _wait_timestamp(field: Any, value: JSON, ctx: JSON, variables: Any, rt: Runtime) -> tuple[float, str]:
    text = resolve_field(field, value, ctx, variables, rt.rng)
    nanos = parse_timestamp(text) if isinstance(text, str) else None
    if nanos is not None:
        return nanos / 1e9, _plain(text)
    if field.path is not MISSING:
        raise StatesError(errors.RUNTIME, "The TimestampPath parameter does not reference a valid "
                          f"ISO-8601 extended offset date-time format string: {field.path.text} == {_plain(text)}")
    raise StatesError(errors.QUERY_EVALUATION_ERROR, "The Timestamp field cannot be parsed as an "
                      f"ISO-8601 extended offset date-time format string: {_plain(text)}")


def _is_integer(value: JSON) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain(value: JSON) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
